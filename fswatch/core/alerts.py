"""The one table of alerts: seed id, MESSAGE_ID, priority, text, catalog explanations.

Every id, text and priority fswatch logs comes from ALERTS; the journal catalog
(packaging/fswatch.catalog), the man pages' alert sections and the docs are generated from
it. Texts are the seed's English texts verbatim (chapter 8 of the CLUSTERPRO guide), so
alert filters written for CLUSTERPRO keep matching: `xxx` became `{target}` (share or
directory) and `nn` / `xxxx` became `{detail}`. What differs between kinds of watch is a
phrase the kind lends (fswatch.kinds: Kind.phrases): `{command}` (the seed's command name,
clp_sambamon), `{service}` (Samba), `{resource}` (share resource [xxx]), `{server}` (Samba
[xxx]) and `{option}` (-s, the clp option naming the target). So a row is one text for every
kind, or the texts of the kinds it concerns, keyed by kind; a new kind needs no new row
except for failures only it can have.

The seed's NFS messages with id 0 got ids 81-85; alerts the seed did not have use 91-93,
96-98 (health attribute mode), 100-102 (NFSv4 grace period), 105-106 (the canary file of
the data-path check), 107-109 (SMB security posture), 110 (metrics), 113 (fault
injection), 114-118 (evidence from the server's own process, the verdict pushed to Pacemaker),
120-127 (Kerberos: the KDC's faults, told apart from the file server's), 135-141 (the write
canary), 145-146 (a request to a watch that is not running, or cannot take it), 150-152
(RPCSEC_GSS: NFS with Kerberos) and 160-162 (the settings a watch runs; its runtime files written
again). Code names an alert by its constant below (alerts.SLOW), never by its number.
MESSAGE_IDs were made once with `systemd-id128 new` and never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Protocol, Tuple, Union

# syslog priorities (journal PRIORITY=)
CRIT, ERR, WARNING, NOTICE, INFO = 2, 3, 4, 5, 6

# The alert ids, by what happened. The seed's ids first (chapter 8), then fswatch's own.
STARTED, WATCHING, STOPPING, TERMINATE, PAUSED, RESUMED = 1, 2, 3, 6, 7, 8
INVALID, NO_TARGET, NO_ID, BUSY, NOT_ENDED, SYSTEM = 11, 12, 13, 14, 15, 42
RESOLVE, TREE_CONNECT, SHARE_TYPE, SESSION, NEGOTIATE, NFS_FAILED = 61, 62, 63, 64, 65, 66
SOCKET, CONNECT, SEND, WAIT, RECEIVE = 71, 72, 73, 74, 75
MOUNT, PORTMAP, NOT_REGISTERED, NFS_RECEIVE, NFS_STATUS = 81, 82, 83, 84, 85
RECOVERED, SLOW, PAUSE_EXPIRED = 91, 92, 93
ATTRIBUTE_FAILED, ATTRIBUTE_SET, FAILED_WATCHING = 96, 97, 98
DEGRADED, DEGRADED_TOO_LONG, DEGRADED_ENDED = 100, 101, 102
CANARY_UNREADABLE, CANARY_BLOCKED = 105, 106
DIALECT, SIGNING, ENCRYPTION = 107, 108, 109
METRICS_FAILED, INJECTED = 110, 113
EVIDENCE_STOPPED, EVIDENCE_BLOCKED, PUSHED, PUSH_FAILED, EVIDENCE_UNAVAILABLE = 114, 115, 116, 117, 118
KDC_UNREACHABLE, KDC_STALLED, KEYTAB_STALE, CLOCK_SKEW, UNKNOWN_SPN, KERBEROS_REFUSED = 120, 121, 122, 123, 124, 125
KERBEROS_DEGRADED, KERBEROS_RENEWED = 126, 127
KRB5_REQUIRED, GSS_REFUSED, GSS_BAD_REPLY = 150, 151, 152
WRITE_READ_ONLY, WRITE_NO_SPACE, WRITE_QUOTA, WRITE_DENIED = 135, 136, 137, 138
WRITE_BLOCKED, WRITE_MISMATCH, WRITE_FAILED = 139, 140, 141
NOT_RUNNING, NOT_TAKEN = 145, 146
SETTINGS_SAME, SETTINGS_DIFFER, RUNTIME_WRITABLE = 160, 161, 162


class Voice(Protocol):
    """What a kind of watch lends its alerts (fswatch.kinds.Kind): its name, which keys a
    row's kind-specific texts, and its phrases."""

    name: str
    phrases: Mapping[str, str]


@dataclass(frozen=True)
class Alert:
    """A row: id, MESSAGE_ID, priority, the text (one for every kind, or {kind: text} where
    only those kinds can log it), then the catalog's subject, explanation and remedy in
    English and in Japanese."""

    id: int
    message_id: str
    priority: int
    text: Union[str, Mapping[str, str]]  # one template with the kind's phrases, or by kind name
    subject: str  # catalog Subject (English)
    explanation: str  # catalog body: what happened (English)
    remedy: str  # what the administrator does (English)
    ja_subject: str
    ja_explanation: str  # the seed's 説明 column
    ja_remedy: str  # the seed's 補足 column

    def concerns(self, kind: str) -> bool:
        """Whether a watch of this kind can log the alert."""
        return isinstance(self.text, str) or kind in self.text

    def template(self, voice: Voice) -> str:
        """The text for `voice`'s kind, its phrases filled in; {target} and {detail} stay."""
        text = self.text if isinstance(self.text, str) else self.text.get(voice.name)
        if text is None:
            raise KeyError(f"alert {self.id} has no {voice.name} text")
        for key, phrase in voice.phrases.items():
            text = text.replace("{" + key + "}", phrase)
        return text

    def render(self, voice: Voice, **fields: object) -> str:
        values = {"target": "", "detail": ""}
        values.update({k: v for k, v in fields.items() if v is not None})
        return self.template(voice).format(**values)


_TABLE: Tuple[Alert, ...] = (
    Alert(
        STARTED,
        "69933eb88cd6412a893529939cefa4ce",
        INFO,
        'The {command} has started watching {service}.',
        "fswatch started a watch",
        "The watch @FSWATCH_WATCH@ (@FSWATCH_KIND@) has started.",
        "None. If alert 2 does not follow soon, the settings and the server do not match.",
        "fswatch の監視が起動しました",
        "監視コマンドが起動されたことを示します。",
        "このメッセージの後にアラート 2 がすぐに表示されない場合は、パラメータの設定値とファイルサーバの環境が"
        "一致していない可能性があります。",
    ),
    Alert(
        WATCHING,
        "43975d53abb44de1b920daad048e305f",
        INFO,
        'The {command} is going to watch {resource}.',
        "fswatch sees the server healthy and watches it",
        "The first probe of @FSWATCH_WATCH@ succeeded; the watch now monitors the server.",
        "None.",
        "fswatch がファイルサーバの監視を開始しました",
        "監視コマンドが共有リソース (共有名またはディレクトリ) の監視を開始したことを示します。",
        "アラート 1 の後に本メッセージがすぐに表示されない場合は、異常が発生している可能性があります。"
        "しばらく経つとエラーメッセージが表示されることがありますので、エラーメッセージを元に対処してください。",
    ),
    Alert(
        STOPPING,
        "0acb7c5d723647e9b4d9fef3e1325384",
        INFO,
        'The {command} will stop watching {server}.',
        "fswatch stops a watch on request",
        "The watch @FSWATCH_WATCH@ was asked to stop and ends normally.",
        "None.",
        "fswatch の監視を終了します",
        "監視コマンドが終了することを示します。",
        "-",
    ),
    Alert(
        TERMINATE,
        "4db6f7435fc94ddfaab5fe1d633cb832",
        CRIT,
        'The {command} will terminate.',
        "fswatch declared the file server failed",
        "The watch @FSWATCH_WATCH@ saw its retries + 1 consecutive probes fail and ends with a "
        "non-zero status, so the cluster can fail the service group over. This entry's "
        "FSWATCH_HISTORY field shows the last probes (time, result, latency, slowest stage, failure).",
        "Act on the alert logged just before this one; it names the stage and the cause.",
        "fswatch がファイルサーバの異常を検出して終了します",
        "異常を検出して終了することを示します。",
        "直前に表示されているメッセージにより対処を行ってください。",
    ),
    Alert(
        PAUSED,
        "5476defa871c43348b987f3e0671a8ab",
        INFO,
        'The {command} is going to stop monitoring.',
        "fswatch paused a watch",
        "The watch @FSWATCH_WATCH@ was paused (fswatch pause, or -pause). It probes nothing and "
        "declares no failure until it is continued, the pause expires or the unit stops.",
        "Continue it after the maintenance: fswatch continue KIND ID (or -continue).",
        "fswatch の監視を中断しました",
        "監視が中断されたことを示します。",
        "-pause で監視の中断を指定すると表示されます。",
    ),
    Alert(
        RESUMED,
        "a36a912c7b8147239659dc951180f702",
        INFO,
        'The {command} is going to monitor.',
        "fswatch resumed a paused watch",
        "The watch @FSWATCH_WATCH@ probes again after a pause.",
        "None.",
        "fswatch の監視を再開しました",
        "監視が再開されたことを示します。",
        "-continue で監視の再開を指定すると表示されます。",
    ),
    Alert(
        INVALID,
        "62fa20d54f0e4f138620f36ba3139ebe",
        ERR,
        'Invalid parameter in the {command}.',
        "fswatch refused an invalid parameter",
        "A parameter was malformed, out of range, or an identifier broke the naming rules "
        "(letters, digits, '_' and '-', first a letter or digit, at most 200 bytes). Nothing was written.",
        "Check the command line or the watch's configuration file.",
        "fswatch がパラメータを不正として拒否しました",
        "パラメータ値が形式的に不正であったことを示します。",
        "監視コマンドのパラメータ値を確認してください。",
    ),
    Alert(
        NO_TARGET,
        "087f58f7ff5345de8703d6e253b98f5a",
        ERR,
        "'{option}' parameter is not specified at the {command} command.",
        "fswatch needs the share or directory to watch",
        "The share name (-s) or the exported directory (-d) was not given.",
        "Add the missing parameter.",
        "監視対象の共有名またはディレクトリが指定されていません",
        "-s (Samba) または -d (NFS) パラメータが指定されていないことを示します。",
        "監視コマンドのパラメータを確認してください。",
    ),
    Alert(
        NO_ID,
        "eb587a1c56af4dd1a58a9c8642079b8b",
        ERR,
        'The monitor id is not specified at the {command} command.',
        "fswatch needs a watch identifier",
        "The command was given no identifier as its first argument.",
        "Give the identifier first.",
        "識別子が指定されていません",
        "識別子が指定されていないことを示します。",
        "監視コマンドのパラメータを確認してください。",
    ),
    Alert(
        BUSY,
        "89e683ddd4ac4f87868e2443af968a8d",
        ERR,
        'The specified monitor id is already under use in other processes.',
        "fswatch refused a second watch with the same identifier",
        "A watch of this kind and identifier is already running (its PID is in fswatch status).",
        "Use another identifier, or stop the running watch first.",
        "同一の識別子の監視が既に実行されています",
        "既に同一の識別子が実行されているため、新たに起動することができないことを示します。",
        "監視コマンドのパラメータを確認してください。",
    ),
    Alert(
        NOT_ENDED,
        "e3643f3489f641588cbb39fe4f5baaa6",
        ERR,
        'The {command} has not performed end processing.',
        "fswatch could not see the watch end in time",
        "A stop request (-stop WAIT, fswatch stop) did not see the watch end within the wait time, SIGKILL "
        "included: a process that handles no signal (a frozen cgroup) or one the system cannot end.",
        "Check the watch's state with fswatch status, and whether its cgroup is frozen "
        "(freezer.state, systemctl thaw).",
        "監視の終了処理が完了しませんでした",
        "-stop パラメータで終了処理を行うことができなかったことを示します。",
        "監視コマンドのパラメータを確認してください。",
    ),
    Alert(
        SYSTEM,
        "20f340d8a4c943ea845326d4dd93fa1a",
        ERR,
        'The {command} has detected system error ({target} {detail}).',
        "fswatch hit a system error",
        "A Linux system call failed; the text names the function and the error number. Logged by a "
        "running watch (FSWATCH_WATCH), it could not write its state or metrics file under its runtime "
        "directory (FSWATCH_REASON names the file): it goes on probing and declares failures as before, "
        "but fswatch status shows its last state as stale. It logs this once, and alert 162 once it "
        "can write again.",
        "Check the system's state according to the error number (for 28, ENOSPC: what fills the file "
        "system of the runtime directory, /run by default).",
        "システムエラーが発生しました",
        "Linux のシステムエラーが発生したことを示します。xxx は関数名、nn はエラーコードを示します。"
        "監視の実行中 (FSWATCH_WATCH) の場合、実行時ディレクトリの状態ファイルまたはメトリクスを書き込めません"
        "でした。監視は継続しますが、fswatch status は最後の状態を古い (stale) と表示します。このアラートは"
        "一度だけ出力され、再び書き込めるようになるとアラート 162 が出力されます。",
        "エラーコードを元にシステムの状態を確認してください (28 (ENOSPC) の場合は、実行時ディレクトリ "
        "(既定は /run) のファイルシステムを何が埋めているか)。",
    ),
    Alert(
        RESOLVE,
        "34b1af958caa43a4a2a8dde921006efb",
        ERR,
        'The {command} could not get environment of server(error[{detail}]). The {command} will terminate.',
        "fswatch could not find the server's address",
        "The server's host name (-a / --address) could not be resolved into an address: the code is "
        "getaddrinfo's (EAI_*, e.g. -2: no such name, -3: try again), or 110 when name resolution gave "
        "no answer within the probe's timeout (stage resolve).",
        "Check the name and this node's name resolution (/etc/hosts, nsswitch.conf, resolv.conf and "
        "its DNS servers), or give an IP address.",
        "サーバ名の取得に失敗しました",
        "サーバ名の取得に失敗したことを示します。エラーコードは、ソケットシステムコールのエラー番号です。",
        "エラーコードを元に対処してください。",
    ),
    Alert(
        TREE_CONNECT,
        "a88f63218db04102b784827fc05df592",
        ERR,
        {"samba": 'The {command} has detected an error in {server} (tree connect error[{detail}]).'},
        "Samba refused the tree connect to the share",
        "The probe could not connect to the share (tree connect); the code is the NT status.",
        "The share name or the user may be wrong: check the parameters and the Samba configuration.",
        "Samba の共有リソースに接続できませんでした",
        "Samba の共有リソースに接続することができなかったことを示します。",
        "共有名やユーザ名などが正しくない可能性がありますので、パラメータと Samba の環境を確認してください。",
    ),
    Alert(
        SHARE_TYPE,
        "dafafbc32a0e4fd3b99512aebea898e6",
        ERR,
        {"samba": 'The {command} has detected an error in {server} (share type error).'},
        "The Samba share is not a disk or printer share",
        "The share answered the tree connect but is a pipe (IPC) share, which fswatch does not watch.",
        "Check the share name against smb.conf, then restart Samba.",
        "Samba の共有リソースの種別が異常です",
        "Samba の共有リソースの種別が異常であったことを示します。",
        "パラメータで指定した共有名と Samba 環境を確認し、Samba の再起動を行ってください。",
    ),
    Alert(
        SESSION,
        "611809e589314f97a156e3b52fc11821",
        ERR,
        {"samba": 'The {command} has detected an error in {server} (connect error[{detail}]).'},
        "Samba refused the session (logon)",
        "The session setup failed or did not answer in time; the code is the NT status or errno.",
        "The user, password or the server's permission may be wrong: check the Samba configuration.",
        "Samba に接続できませんでした",
        "Samba に接続することができなかったことを示します。",
        "自サーバから Samba に接続する許可がない可能性がありますので、Samba の環境を確認してください。",
    ),
    Alert(
        NEGOTIATE,
        "2e53733af01b4b1f96ffd65d9fc778b9",
        ERR,
        {"samba": 'The {command} has detected an error in {server} (negotiate error[{detail}]).'},
        "SMB protocol negotiation failed",
        "The SMB negotiate failed or was not answered in time; the code is the NT status or errno.",
        "Act on the error code; check that the server speaks SMB2/3.",
        "SMB プロトコルのネゴシエーションに失敗しました",
        "SMB プロトコルのネゴシエーションに失敗したことを示します。",
        "エラーコードを元に対処してください。",
    ),
    Alert(
        NFS_FAILED,
        "64ba3b74a1324d16a94a11e7706db2d2",
        CRIT,
        {"nfs": 'The {command} has detected an error in NFS.'},
        "fswatch declared the NFS server failed",
        "The NFS watch @FSWATCH_WATCH@ declared its server failed and ends.",
        "Act on the alert logged just before this one.",
        "NFS の異常を検出しました",
        "異常を検出して終了することを示します。",
        "直前に表示されているメッセージにより対処を行ってください。",
    ),
    Alert(
        SOCKET,
        "9cf4e654941f4681a6f5d264c7ffc475",
        ERR,
        {"samba": 'The {command} has detected network error(socket error[{detail}]).'},
        "fswatch could not create a socket",
        "The socket could not be created; the code is the errno.",
        "Act on the error code (file descriptor or memory limits).",
        "ソケットの作成に失敗しました",
        "socket の作成に失敗したことを示します。エラーコードは、ソケットシステムコールのエラー番号です。",
        "エラーコードを元に対処してください。",
    ),
    Alert(
        CONNECT,
        "1d4542c1b6ea4b4782038368e133581f",
        ERR,
        {"samba": 'The {command} has detected network error(connect error[{detail}]).'},
        "fswatch could not connect to the Samba server",
        "The TCP connect failed or timed out; the code is the errno (111 refused, 110 timed out).",
        "The address may be wrong or Samba stopped: check the parameters and the service.",
        "Samba サーバに接続できませんでした",
        "Samba のサーバに接続することができなかったことを示します。エラーコードは、ソケットシステムコールの"
        "エラー番号です。",
        "IP アドレスが不正、または Samba のサービスが停止している可能性がありますので、パラメータと Samba の"
        "環境を確認してください。",
    ),
    Alert(
        SEND,
        "8fb732e94953419ca7b3405068aa53a9",
        ERR,
        {"samba": 'The {command} has detected network error(send error[{detail}]).'},
        "fswatch could not send to the Samba server",
        "Sending a request failed; the code is the errno.",
        "Act on the error code.",
        "Samba サーバへの送信に失敗しました",
        "Samba サーバへのデータ送信処理で異常を検出したことを示します。エラーコードは、ソケットシステムコールの"
        "エラー番号です。",
        "エラーコードを元に対処してください。",
    ),
    Alert(
        WAIT,
        "dfd950ae91f74284bb54e17edfafad55",
        ERR,
        {"samba": 'The {command} has detected network error(select error[{detail}]).'},
        "The Samba server did not answer in time",
        "Waiting for an answer failed or passed the probe's deadline; the code is the errno.",
        "Act on the error code; a stalled smbd is the usual cause.",
        "Samba サーバからの応答待ちで異常を検出しました",
        "Samba サーバからの応答待ち処理で異常を検出したことを示します。エラーコードは、ソケットシステムコールの"
        "エラー番号です。",
        "エラーコードを元に対処してください。",
    ),
    Alert(
        RECEIVE,
        "f9d78c646b824a1b8e02a039c265f842",
        ERR,
        {"samba": 'The {command} has detected network error(recv error[{detail}]).'},
        "fswatch could not receive from the Samba server",
        "Receiving an answer failed (connection reset or closed, or garbage); the code is the errno.",
        "Act on the error code.",
        "Samba サーバからの受信に失敗しました",
        "Samba サーバからのデータ受信処理で異常を検出したことを示します。エラーコードは、ソケットシステムコールの"
        "エラー番号です。",
        "エラーコードを元に対処してください。",
    ),
    Alert(
        MOUNT,
        "04cf7e10df1d4758a4d267273d6b8fe0",
        ERR,
        {"nfs": '{command}: mount error({detail})'},
        "The NFS export could not be mounted",
        "MOUNT refused the export (not exported, or not to this client), or did not answer.",
        "The directory may be wrong: check the parameters and the server's exports.",
        "NFS の共有ディレクトリを mount できませんでした",
        "NFS の共有ディレクトリを mount することができなかったことを示します。",
        "共有ディレクトリ名が正しくない可能性がありますので、パラメータと NFS の環境を確認してください。",
    ),
    Alert(
        PORTMAP,
        "1a6ee1cdf0fc43d4a99674087e479587",
        ERR,
        {"nfs": '{command}: RPC: Port mapper failure - {detail}'},
        "The portmapper (rpcbind) did not answer",
        "The portmapper on the NFS server refused or did not answer in time.",
        "The address may be wrong or rpcbind stopped: check the parameters and the service.",
        "ポートマッパーとの通信に失敗しました",
        "NFS に接続することができなかったことを示します。",
        "IP アドレスが正しくない、または portmap サービスが停止している可能性がありますので、パラメータと NFS の"
        "環境を確認してください。",
    ),
    Alert(
        NOT_REGISTERED,
        "9dca7ea2c979413abeca38fe45a52f3f",
        ERR,
        {"nfs": '{command}: RPC: Program not registered.'},
        "The NFS or MOUNT program is not registered",
        "The portmapper answered that the program is not registered (the NFS service is down).",
        "Check the NFS service.",
        "NFS サービスが登録されていません",
        "NFS サービスに接続できなかったことを示します。",
        "NFS のサービスが停止している可能性がありますので、NFS の環境を確認してください。",
    ),
    Alert(
        NFS_RECEIVE,
        "6f8e16e35de04e7585f56e597671f5ee",
        ERR,
        {"nfs": '{command}: RPC: Unable to receive: errno = {detail}.'},
        "The NFS server did not answer",
        "An RPC call to the NFS or MOUNT service was refused, reset, or not answered in time.",
        "The port may be wrong or the service stalled: check the parameters and the NFS server.",
        "NFS サーバから応答を受信できませんでした",
        "portmap サービスが正しく動作できなかったことを示します。",
        "ポート番号の指定が正しくない可能性があります。パラメータと NFS の環境を確認してください。",
    ),
    Alert(
        NFS_STATUS,
        "38db421987cc44a383d1a25d9e33d0db",
        ERR,
        {"nfs": '{command}: {detail}'},
        "The NFS server answered with an error",
        "An NFS or RPC call returned an error status (e.g. NFS3ERR_STALE, PROG_UNAVAIL, AUTH_TOOWEAK).",
        "Act on the status shown.",
        "NFS がエラーを応答しました",
        "NFS が出力するメッセージです。",
        "表示されているメッセージにより対処を行ってください。",
    ),
    Alert(
        RECOVERED,
        "dd9969f5ce684b5d89cf5a06d1a19694",
        NOTICE,
        'The {command} has seen {server} healthy again after {detail} failed probes.',
        "A file server answered again before it was declared failed",
        "The watch @FSWATCH_WATCH@ saw a healthy probe after a streak of failed ones; the failure count is reset.",
        "None now; look at the failed probes' alerts if this repeats.",
        "ファイルサーバが応答を回復しました",
        "連続した監視の失敗の後、リトライ回数に達する前に正常な応答が戻ったことを示します。",
        "繰り返し表示される場合は、直前のエラーメッセージを確認してください。",
    ),
    Alert(
        SLOW,
        "2929974c4990416998221fe920d371d5",
        WARNING,
        'The {command} has seen a slow answer from {server} ({detail}).',
        "A file server answered slowly",
        "A probe succeeded but took more than half of its timeout (its slow budget). A slow server that "
        "answers within the timeout is never declared failed. The detail names the stage that took the "
        "largest share of the budget, with its time (FSWATCH_SLOW_STAGE, FSWATCH_SLOW_STAGE_MS, "
        "FSWATCH_BUDGET_MS), e.g. tree_connect for a slow share backend, session for slow authentication.",
        "Check the server's load if this repeats, starting with what the named stage needs: the "
        "network (connect), authentication (session), the share's storage (tree_connect, GETATTR, FSSTAT).",
        "ファイルサーバの応答が遅くなっています",
        "監視は成功しましたが、応答待ち時間の半分以上かかったことを示します。詳細には、その時間の最も大きな"
        "割合を占めた段階とその時間が示されます。",
        "繰り返し表示される場合は、サーバの負荷を確認してください。示された段階 (接続、認証、共有のストレージ) "
        "から調べてください。",
    ),
    Alert(
        PAUSE_EXPIRED,
        "d058f1885f7746f58594fcb9cd7ba7cd",
        INFO,
        'The {command} pause has expired after {detail}.',
        "A timed pause of a watch expired",
        "A pause given a duration (fswatch pause --for) ran out; monitoring resumes (alert 8 follows).",
        "None.",
        "監視の一時中断の期限が切れました",
        "期限付きの監視の中断が終了したことを示します。続いて監視を再開します。",
        "-",
    ),
    Alert(
        ATTRIBUTE_FAILED,
        "e0e4488a4da8466fb66adf38b00f08f5",
        ERR,
        'The {command} has failed to update the node attribute ({detail}).',
        "fswatch could not publish its verdict as a node attribute",
        "In health attribute mode the watch runs attrd_updater at every verdict change; this call "
        "failed or did not end in time and was killed. The watch keeps probing and tries again "
        "after its next probe. Until then the cluster sees the attribute's previous value.",
        "Check that pacemaker-attrd runs on this node and that the watch may reach it "
        "(attrd_updater -Q -n NAME); the detail names the attribute and the cause.",
        "ノード属性を更新できませんでした",
        "ヘルス属性モードで、監視結果をノード属性に反映する attrd_updater の実行が失敗したか、"
        "時間内に終了しなかったため強制終了されたことを示します。監視は継続し、次の監視の後に再試行します。",
        "このノードで pacemaker-attrd が動作しているか、監視から接続できるかを確認してください "
        "(attrd_updater -Q -n 属性名)。",
    ),
    Alert(
        ATTRIBUTE_SET,
        "55c29e56035746f2b2eb2f4ec81231c3",
        INFO,
        'The {command} has set the node attribute {detail}.',
        "fswatch published its verdict as a node attribute",
        "In health attribute mode the watch set the transient node attribute to 1 (healthy) or "
        "0 (declared failed); location rules on it move the service group.",
        "None.",
        "ノード属性を更新しました",
        "ヘルス属性モードで、監視結果 (正常 1、異常 0) を一時ノード属性に設定したことを示します。",
        "-",
    ),
    Alert(
        FAILED_WATCHING,
        "044f686b3c9a465190f5fdac82037196",
        CRIT,
        'The {command} has declared {server} failed and keeps watching it.',
        "fswatch declared the file server failed (health attribute mode, CTDB)",
        "The watch @FSWATCH_WATCH@ saw its retries + 1 consecutive probes fail. In health attribute "
        "mode, and as a watch for CTDB, it does not end: it sets the node attribute to 0, or makes "
        "CTDB's monitor event fail on this node (event script 45.fswatch), so CTDB moves the node's "
        "public addresses away; and it keeps probing, so a recovery (alert 91) sets the attribute "
        "to 1 again or lets the monitor event pass. This entry's FSWATCH_HISTORY field shows the "
        "last probes.",
        "Act on the alert logged just before this one; it names the stage and the cause.",
        "ファイルサーバの異常を検出しました (監視は継続します)",
        "ヘルス属性モードまたは CTDB 用の監視で異常を検出したことを示します。監視は終了せず、ノード属性を 0 に"
        "する (CTDB 用の監視では、このノードの CTDB の monitor イベントを失敗させ、パブリックアドレスを他のノードへ"
        "移させる) 状態で監視を続け、回復するとノード属性を 1 に戻します (monitor イベントは成功します)。",
        "直前に表示されているメッセージにより対処を行ってください。",
    ),
    Alert(
        METRICS_FAILED,
        "12f98e5d2d884b4a9421a6447c32caec",
        WARNING,
        'The {command} could not write its metrics ({detail}).',
        "fswatch could not write its Prometheus metrics",
        "The watch writes its metrics to its runtime directory (at once when its state changes, "
        "else at most every 5 seconds) and links them into node_exporter's textfile directory "
        "(FSWATCH_METRICS_DIR). This link failed; the watch keeps watching and tries again after "
        "its next write, and this alert comes again only after a link has succeeded. (A metrics "
        "file that cannot be written in the runtime directory is alert 42, with the state file's.)",
        "The detail names the file and the cause (a full or read-only file system, a directory "
        "the watch may not write). Set FSWATCH_METRICS_DIR=off to turn metrics off.",
        "メトリクスを書き込めませんでした",
        "監視ごとのメトリクス (Prometheus の textfile 形式) の公開 (textfile ディレクトリへのリンク) に"
        "失敗したことを示します。監視は継続し、次の監視の後に再試行します。",
        "詳細に示されたファイルと原因を確認してください。FSWATCH_METRICS_DIR=off でメトリクスを無効にできます。",
    ),
)

# NFSv4 grace period (issue 11): a degraded server, not a failed one, up to a limit.
_TABLE += (
    Alert(
        DEGRADED,
        "f64355d3cf584ad187abc783094a7bbd",
        WARNING,
        {
            "nfs": 'The {command} has seen {server} in a grace period (degraded, not failed, for up '
            'to {detail} s).'
        },
        "The NFS server is in a grace period (degraded)",
        "After a restart or failover an NFSv4 server refuses new state (OPEN, LOCK) with NFS4ERR_GRACE "
        "until the clients that held state before have reclaimed it or its grace period ends. Clients "
        "stall on open and lock meanwhile; reads and writes of open files go on. The watch reports "
        "degraded, not failed, and counts no failed probe, for up to 3 x the server's lease time; alert "
        "102 follows when the grace period ends, alert 101 when it lasts longer.",
        "Usually none: it ends by itself (nfs-ganesha Grace_Period, knfsd grace time). If it repeats, "
        "find out why the server restarts or fails over. To shorten it, lower the server's grace time, "
        "or use a recovery backend that lets it end once every client has reclaimed.",
        "NFS サーバが猶予期間中です (縮退)",
        "再起動またはフェイルオーバの後、NFSv4 サーバは以前に状態を持っていたクライアントが回収を終えるか猶予"
        "期間が終わるまで、新しい状態 (OPEN、LOCK) を NFS4ERR_GRACE で拒否します。その間クライアントは open と"
        "lock で待たされますが、開いているファイルの読み書きは続きます。監視はサーバのリース時間の 3 倍まで、"
        "異常ではなく縮退として報告し、監視の失敗として数えません。猶予期間が終わるとアラート 102 が、それより"
        "長く続くとアラート 101 が続きます。",
        "通常は対処不要です (nfs-ganesha の Grace_Period、knfsd の grace time で自然に終わります)。繰り返し"
        "表示される場合は、サーバが再起動やフェイルオーバをする原因を調べてください。",
    ),
    Alert(
        DEGRADED_TOO_LONG,
        "a79fe9dd5eca48278a06e32ca0ac18dd",
        ERR,
        {"nfs": 'The {command} has seen the grace period of {server} last longer than {detail}.'},
        "The NFS server's grace period does not end",
        "The server has refused new opens and locks with NFS4ERR_GRACE for longer than 3 x its lease time "
        "(the lease time the server reports; 90 s when it reports none). Servers end a grace period within "
        "1-2 lease times, so each further probe that meets it counts as failed, and retries + 1 of them "
        "declare the server failed.",
        "Check the NFS server: a grace period that does not end is a stuck recovery (the recovery backend, "
        "a cluster that keeps every node in grace) or a server that restarts over and over.",
        "NFS サーバの猶予期間が終わりません",
        "サーバがリース時間の 3 倍 (サーバが報告するリース時間、報告がない場合は 90 秒) を超えて新しい open と"
        "lock を NFS4ERR_GRACE で拒否し続けています。これ以降の監視はそれぞれ失敗として数えられ、リトライ回数"
        "+ 1 回続くとサーバの異常と判断します。",
        "NFS サーバを確認してください。終わらない猶予期間は、回復処理 (リカバリバックエンド、全ノードを猶予期間"
        "に留めるクラスタ) の停滞か、再起動を繰り返すサーバを示します。",
    ),
    Alert(
        DEGRADED_ENDED,
        "aa113ff93a304e69ba760ca02f25297f",
        NOTICE,
        {"nfs": 'The {command} has seen the grace period of {server} end after {detail} degraded probes.'},
        "The NFS server's grace period ended",
        "The server accepts new opens and locks again; the watch reports healthy.",
        "None.",
        "NFS サーバの猶予期間が終わりました",
        "サーバが新しい open と lock を再び受け付けています。監視は正常に戻りました。",
        "-",
    ),
)

# Data-path check (issue 11 point 3, opt-in `canary`): the probe reads a file's first bytes.
_TABLE += (
    Alert(
        CANARY_UNREADABLE,
        "4763d0eb979e488389ca043bd439bb1e",
        ERR,
        'The {command} could not read the canary file of {server}: {detail}.',
        "The canary file cannot be read",
        "The server answered, and the share or export is there, but the canary file named in the "
        "watch's settings (FSWATCH_CANARY) is missing or the server refused to read it: the NT status "
        "(FSWATCH_NTSTATUS) or NFS status (FSWATCH_RPC_STATUS) says which, e.g. "
        "STATUS_OBJECT_NAME_NOT_FOUND / NFS3ERR_NOENT (missing), STATUS_ACCESS_DENIED / NFS4ERR_ACCESS "
        "(permissions, root squash), NFS3ERR_IO (the storage beneath). Clients cannot read that file either.",
        "Put the file back (it must be a regular file, readable by the watch's user: the SMB user or the "
        "guest account; over NFS uid 0, which the server may squash to its anonymous user), check the "
        "storage beneath the share or export, or correct the watch's canary setting.",
        "カナリアファイルを読み取れません",
        "サーバは応答し、共有やエクスポートも存在しますが、監視の設定で指定したカナリアファイル "
        "(FSWATCH_CANARY) が存在しないか、サーバが読み取りを拒否しました。NT ステータス "
        "(FSWATCH_NTSTATUS) または NFS ステータス (FSWATCH_RPC_STATUS) が原因を示します (例: "
        "STATUS_OBJECT_NAME_NOT_FOUND / NFS3ERR_NOENT は不在、STATUS_ACCESS_DENIED / NFS4ERR_ACCESS は"
        "権限または root squash、NFS3ERR_IO は配下のストレージ)。クライアントもこのファイルを読めません。",
        "ファイルを戻してください (通常ファイルで、監視のユーザ (SMB のユーザまたはゲスト、NFS では uid 0。サーバ"
        "が匿名ユーザに変換する場合があります) が読める必要があります)。共有やエクスポートの配下のストレージを"
        "確認するか、監視の canary 設定を修正してください。",
    ),
    Alert(
        CANARY_BLOCKED,
        "464b10e8523b4367a98b7d8d350131fb",
        ERR,
        'The {command} has not read the canary file of {server} within the timeout: {detail}.',
        "Reading the canary file blocked",
        "The server answered every earlier step of the probe, but the read of the canary file "
        "(FSWATCH_CANARY) did not finish by the probe's deadline, or the server dropped the connection "
        "during it. The storage beneath the file is stalled (a hung disk, SAN path, FUSE or network file "
        "system under the share or export) while the daemon itself still answers from its caches.",
        "Check the storage beneath the share or export (dmesg, multipath, the backing file system) and "
        "the server's load. A server that is only slow needs a longer timeout.",
        "カナリアファイルの読み取りが停止しました",
        "サーバはそれまでの監視の手順には応答しましたが、カナリアファイル (FSWATCH_CANARY) の読み取りが監視"
        "のタイムアウトまでに終わらないか、その途中で接続が切られました。デーモン自体はキャッシュから応答して"
        "いても、ファイルの配下のストレージ (ディスク、SAN パス、共有やエクスポートの下の FUSE やネットワーク"
        "ファイルシステム) が停止しています。",
        "共有やエクスポートの配下のストレージ (dmesg、multipath、下位のファイルシステム) とサーバの負荷を確認"
        "してください。単に遅いだけのサーバには、より長いタイムアウトを設定してください。",
    ),
)

# SMB security posture (issue 11): a server weaker than the watch requires fails the probe.
_TABLE += (
    Alert(
        DIALECT,
        "f4d7ac6542c4448388b59e42060ca195",
        ERR,
        {"samba": 'The {command} has seen {server} negotiate a weaker SMB dialect than required ({detail}).'},
        "The SMB server negotiated a dialect below the watch's minimum",
        "The watch requires at least the SMB dialect of its min_dialect setting (fswatch add samba "
        "--min-dialect). The probe offers every dialect from 2.0.2 to 3.1.1; the server chose an older "
        "one, so clients may be talking to it without the protections of the newer dialects (for "
        "example 3.1.1's pre-authentication integrity). The probe fails at stage negotiate and counts "
        "like any failed probe.",
        "Check the server's `server min protocol` and `server max protocol` (smb.conf), or whether "
        "another server now answers at this address. Lower --min-dialect only if the weaker dialect "
        "is acceptable.",
        "SMB サーバが要求より古いダイアレクトを選択しました",
        "監視が要求する最小の SMB ダイアレクト (--min-dialect) より古いダイアレクトをサーバが選択しました。"
        "監視は 2.0.2 から 3.1.1 までのすべてのダイアレクトを提示しています。negotiate の段階で監視の失敗と"
        "して数えます。",
        "サーバの server min protocol と server max protocol (smb.conf) を確認するか、別のサーバがこの"
        "アドレスで応答していないか確認してください。",
    ),
    Alert(
        SIGNING,
        "34c5b26dc90f43478a0a72221d42bae0",
        ERR,
        {"samba": 'The {command} has seen {server} not require signing ({detail}).'},
        "The SMB server does not require signing",
        "The watch requires signing (fswatch add samba --require-signing): the server must insist "
        "that every session signs its messages (NEGOTIATE SecurityMode SIGNING_REQUIRED), so no client "
        "can be tricked into an unsigned, tamperable session. This server lets sessions go unsigned. "
        "The probe fails at stage session and counts like any failed probe.",
        "Set `server signing = mandatory` in the server's smb.conf (or its group policy), or check "
        "whether another server now answers at this address.",
        "SMB サーバが署名を必須にしていません",
        "監視は署名の必須化を要求しています (--require-signing)。サーバは署名のないセッションを許しています。"
        "session の段階で監視の失敗として数えます。",
        "サーバの smb.conf で server signing = mandatory を設定するか、別のサーバがこのアドレスで応答して"
        "いないか確認してください。",
    ),
    Alert(
        ENCRYPTION,
        "6a5ed5e8e1c64a0a9468ff307ad9fc8e",
        ERR,
        {"samba": 'The {command} has seen {server} not require encryption ({detail}).'},
        "The SMB server does not encrypt the share",
        "The watch requires encryption (fswatch add samba --require-encryption): the server must "
        "encrypt every session on the share (SMB 3.x; the session's or the share's ENCRYPT_DATA flag, "
        "smb.conf `smb encrypt = required`). This server serves the share unencrypted, or negotiated "
        "a dialect that cannot encrypt (2.x). The probe fails at stage tree_connect, where a "
        "per-share setting becomes known, and counts like any failed probe.",
        "Set `smb encrypt = required` globally or on the share, and a `server min protocol` of SMB3, "
        "or check whether another server now answers at this address.",
        "SMB サーバが共有を暗号化していません",
        "監視は暗号化を要求しています (--require-encryption)。サーバはこの共有を暗号化せずに提供しているか、"
        "暗号化できないダイアレクト (2.x) を選択しました。共有ごとの設定が分かる tree_connect の段階で監視の"
        "失敗として数えます。",
        "smb.conf で smb encrypt = required (全体または共有) と server min protocol = SMB3 を設定するか、"
        "別のサーバがこのアドレスで応答していないか確認してください。",
    ),
)

# Fault injection (issue 12): `fswatch inject` armed a failover test.
_TABLE += (
    Alert(
        INJECTED,
        "4d1fb98d54114433a2fd10e981bd863a",
        NOTICE,
        'The {command} will fail its next {detail} on request (injected).',
        "A failure was injected into a watch (fswatch inject)",
        "Someone ran fswatch inject (or clp_sambamon/clp_nfsmon ID -inject) to test the failover "
        "chain. The watch fails the probes named in the text at that stage without contacting the "
        "server; their alerts carry FSWATCH_INJECTED=1 and say \"(injected)\". With enough of them "
        "the watch declares its server failed (alert 6) and ends, like for a real fault.",
        "None, if a failover test is under way. Otherwise: fswatch continue KIND ID clears the "
        "injection before it has failed enough probes.",
        "障害が擬似的に発生させられました (fswatch inject)",
        "フェイルオーバの試験のため fswatch inject (または -inject) が実行されたことを示します。"
        "監視はサーバに接続せず、指定された段階で次の監視を失敗させます。そのアラートには "
        "FSWATCH_INJECTED=1 と \"(injected)\" が付きます。",
        "試験中であれば対処は不要です。そうでなければ fswatch continue KIND ID で取り消してください。",
    ),
)

# Kerberos logon from a keytab (issue 19): the KDC's faults, told apart from the file server's.
# A fault while the watch has no ticket fails the probe at stage kerberos (120-125); one while a
# still-valid ticket serves the logon only degrades it (126, then 127 once renewed).
_TABLE += (
    Alert(
        KDC_UNREACHABLE,
        "652bd8c820224302a15ec932b810dbc7",
        ERR,
        {"samba": "The {command} could not reach the Kerberos KDC to log on to {server} ({detail}).",
         "nfs": "{command}: Kerberos: cannot reach the KDC ({detail})"},
        "The Kerberos KDC cannot be reached",
        "The watch logs on with Kerberos and needed a new ticket, but no KDC of the realm answered: "
        "every one refused the connection, or none could be found (FSWATCH_KRB5_ERROR, e.g. "
        "KRB5_KDC_UNREACH, KRB5_REALM_CANT_RESOLVE). The probe fails at stage kerberos, before the file "
        "server is contacted: clients without a ticket cannot log on either. While the watch still holds "
        "a valid ticket the same outage only degrades its probes (alert 126).",
        "Check the KDC (the domain controllers' samba or krb5kdc service) and that this node reaches it "
        "on port 88: its firewall, the kdc lines of krb5.conf or the _kerberos DNS SRV records.",
        "Kerberos の KDC に接続できません",
        "監視は Kerberos でログオンするため新しいチケットが必要でしたが、レルムの KDC がどれも応答しません"
        "でした (接続拒否、または KDC が見つからない。FSWATCH_KRB5_ERROR を参照)。ファイルサーバに接続する前の "
        "kerberos の段階で監視は失敗します。有効なチケットを保持している間は、同じ障害は縮退 (アラート 126) "
        "として報告されます。",
        "KDC (ドメインコントローラの samba または krb5kdc) が動作しているか、このノードからポート 88 に到達"
        "できるか (ファイアウォール、krb5.conf の kdc 行、DNS の _kerberos SRV レコード) を確認してください。",
    ),
    Alert(
        KDC_STALLED,
        "1be4707313554b128b161ad4b07f21f1",
        ERR,
        {"samba": "The {command} got no answer from the Kerberos KDC within the timeout to log on to {server} "
                  "({detail}).",
         "nfs": "{command}: Kerberos: no answer from the KDC within the timeout ({detail})"},  # fmt: skip
        "The Kerberos KDC did not answer in time",
        "The watch needed a new Kerberos ticket and asked the KDC, which did not answer by the probe's "
        "deadline (a stalled KDC process, an overloaded domain controller, packets to port 88 dropped). "
        "The ticket request runs in a child process that is killed at the deadline, so the probe ends "
        "on time; it fails at stage kerberos.",
        "Check the domain controllers' load and their samba or krb5kdc service, and the network path to "
        "port 88. A KDC that is only slow needs a longer timeout.",
        "Kerberos の KDC が時間内に応答しません",
        "監視は新しい Kerberos チケットを KDC に要求しましたが、監視のタイムアウトまでに応答がありませんでした "
        "(KDC プロセスの停止、ドメインコントローラの過負荷、ポート 88 へのパケットの破棄)。チケットの要求はタイム"
        "アウトで強制終了される子プロセスで行われるため、監視は時間内に kerberos の段階で失敗します。",
        "ドメインコントローラの負荷と samba または krb5kdc、ポート 88 への経路を確認してください。",
    ),
    Alert(
        KEYTAB_STALE,
        "ba0050c807e84f6cb7b624f3d5205756",
        ERR,
        {"samba": "The {command} could not log on to {server}: the key in its keytab is stale ({detail}).",
         "nfs": "{command}: Kerberos: the key in the keytab is stale ({detail})"},
        "The watch's keytab no longer matches the KDC",
        "The KDC refused the watch's key (FSWATCH_KRB5_ERROR KRB5KDC_ERR_PREAUTH_FAILED, or a key version "
        "the KDC no longer has): the principal's password or keys changed after its keytab was exported "
        "(samba-tool user setpassword, a password policy, a re-join), so the key version (kvno) in the "
        "keytab is stale. No new ticket can be had with it.",
        "Export the principal's current keys again (samba-tool domain exportkeytab, ktpass, adcli) and give "
        "them to the watch: fswatch add ... --keytab FILE (or the OCF agent's keytab parameter).",
        "監視のキータブが KDC と一致しません",
        "KDC が監視の鍵を拒否しました (FSWATCH_KRB5_ERROR KRB5KDC_ERR_PREAUTH_FAILED など)。キータブの作成後に"
        "プリンシパルのパスワードまたは鍵が変更されたため、キータブの鍵バージョン (kvno) が古くなっています。",
        "プリンシパルの現在の鍵を再度エクスポートし (samba-tool domain exportkeytab、ktpass、adcli)、"
        "fswatch add ... --keytab FILE (または OCF エージェントの keytab パラメータ) で監視に渡してください。",
    ),
    Alert(
        CLOCK_SKEW,
        "bc41225d917d4b5aac082d435d21bd41",
        ERR,
        {"samba": "The {command} could not log on to {server}: the clocks differ too much ({detail}).",
         "nfs": "{command}: Kerberos: the clocks differ too much ({detail})"},
        "Kerberos refused the logon: clock skew",
        "Kerberos allows the clocks of client, KDC and server to differ by at most 5 minutes. Either the KDC "
        "refused this node's request (KRB5KRB_AP_ERR_SKEW at stage kerberos), or the file server refused the "
        "ticket while its clock (from its SMB negotiate answer) differs from the KDC's by more than that "
        "(stage session; the server's NT status, usually STATUS_LOGON_FAILURE, is in FSWATCH_NTSTATUS). A "
        "server whose clock drifted after a failover rejects every Kerberos client.",
        "Fix time synchronisation (chrony or ntpd) on the file server, the domain controllers and this node; "
        "the detail says whose clock is off and by how much.",
        "Kerberos がログオンを拒否しました: 時刻のずれ",
        "Kerberos ではクライアント、KDC、サーバの時刻のずれは最大 5 分です。KDC がこのノードの要求を拒否したか "
        "(kerberos の段階の KRB5KRB_AP_ERR_SKEW)、ファイルサーバの時刻 (SMB negotiate の応答による) が KDC と"
        "それ以上ずれていてチケットを拒否しました (session の段階、NT ステータスは FSWATCH_NTSTATUS)。",
        "ファイルサーバ、ドメインコントローラ、このノードの時刻同期 (chrony、ntpd) を修正してください。詳細に"
        "どの時刻がどれだけずれているかが示されます。",
    ),
    Alert(
        UNKNOWN_SPN,
        "f623d5b2e2634fbe8e5344489cc53967",
        ERR,
        {"samba": "The {command} could not log on to {server}: the KDC does not know its service principal "
                  "({detail}).",
         "nfs": "{command}: Kerberos: the KDC does not know the server's service principal ({detail})"},  # fmt: skip
        "The KDC does not know the server's service principal",
        "The KDC answered KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN for the server's service principal name "
        "(cifs/NAME@REALM, in the detail): no account has that SPN, so no client can get a ticket for the "
        "server under that name. NAME is the watch's spn_host, or its address when that is a host name.",
        "Give the watch the name the server is registered under (fswatch add samba ... --spn-host NAME, "
        "e.g. the server's own host name when the watch probes a floating address), or register the SPN "
        "(samba-tool spn add cifs/NAME ACCOUNT, setspn -S cifs/NAME ACCOUNT).",
        "KDC がサーバのサービスプリンシパルを知りません",
        "KDC はサーバのサービスプリンシパル名 (詳細の cifs/NAME@REALM) に対して "
        "KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN を応答しました。その名前でサーバのチケットを得ることはできません。",
        "サーバが登録されている名前を監視に指定するか (fswatch add samba ... --spn-host NAME)、SPN を登録して"
        "ください (samba-tool spn add、setspn -S)。",
    ),
    Alert(
        KERBEROS_REFUSED,
        "dbf35491f7fb46028d0074fa7684d69d",
        ERR,
        {"samba": "The {command} could not get a Kerberos ticket to log on to {server} ({detail}).",
         "nfs": "{command}: Kerberos: no ticket for the server ({detail})"},
        "The watch could not get a Kerberos ticket",
        "The watch's Kerberos logon failed before the file server was contacted, for a reason other than an "
        "unreachable or stalled KDC, a stale key, clock skew or an unknown SPN: the principal is unknown, "
        "disabled or locked (KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, KRB5KDC_ERR_CLIENT_REVOKED), its password "
        "expired (KRB5KDC_ERR_KEY_EXPIRED), the keytab is missing, unreadable or holds no key for the "
        "principal, or this node lacks the GSSAPI binding. FSWATCH_KRB5_ERROR and the reason name it.",
        "Act on the Kerberos error in the detail: check the principal's account in the directory, and the "
        "keytab given to the watch (klist -k FILE).",
        "Kerberos チケットを取得できません",
        "監視の Kerberos ログオンが、ファイルサーバに接続する前に失敗しました (KDC の不達・停止、古い鍵、時刻の"
        "ずれ、未知の SPN 以外の原因: プリンシパルが存在しない・無効・ロック、パスワードの期限切れ、キータブが"
        "ない・読めない・鍵がない、GSSAPI バインディングがない)。FSWATCH_KRB5_ERROR と理由に示されます。",
        "詳細の Kerberos エラーに従って、ディレクトリのアカウントと監視のキータブ (klist -k FILE) を確認して"
        "ください。",
    ),
    Alert(
        KERBEROS_DEGRADED,
        "a4c8349346ce487a9894969d5d044304",
        WARNING,
        {"samba": "The {command} could not renew its Kerberos ticket for {server} and logs on with the cached "
                  "one (degraded: {detail}).",
         "nfs": "{command}: Kerberos: the ticket could not be renewed; the cached one serves (degraded: {detail})"},
        # fmt: skip
        "The watch's Kerberos ticket is due but cannot be renewed (degraded)",
        "The watch reuses its Kerberos ticket while it is valid and renews it once half its lifetime has "
        "passed. The renewal failed (the KDC down or stalled, a stale keytab, clock skew: the detail and "
        "FSWATCH_KRB5_ERROR name it), but the cached ticket still got the logon and the tree connect: the "
        "file service is up for clients that hold tickets, while new clients cannot get one. The probe "
        "counts as degraded, not failed; the watch tries again at each probe, with at most half of the "
        "probe's time, and says alert 127 once it has a new ticket. When the cached ticket no longer "
        "outlives a probe, probes fail at stage kerberos (alerts 120-125).",
        "Act on the Kerberos error before the cached ticket expires (the detail says when): the KDC, the "
        "keytab, the clocks.",
        "Kerberos チケットを更新できません (縮退)",
        "監視は有効な間 Kerberos チケットを再利用し、有効期間の半分が過ぎると更新します。更新は失敗しました "
        "(KDC の停止・無応答、古いキータブ、時刻のずれ: 詳細と FSWATCH_KRB5_ERROR を参照) が、キャッシュの"
        "チケットでログオンと共有への接続はできました。チケットを持つクライアントにはファイルサービスが提供されて"
        "いますが、新しいクライアントはチケットを得られません。監視は失敗ではなく縮退として数え、監視ごとに再試行"
        "します。チケットが監視より先に期限切れになると、kerberos の段階で失敗します (アラート 120-125)。",
        "キャッシュのチケットが期限切れになる前に (詳細に時刻が示されます)、KDC、キータブ、時刻を確認して"
        "ください。",
    ),
    Alert(
        KERBEROS_RENEWED,
        "9fc5e2bc586349b89580eaad97c672aa",
        NOTICE,
        {"samba": "The {command} has renewed its Kerberos ticket for {server} after {detail} degraded probes.",
         "nfs": "{command}: Kerberos: the ticket was renewed after {detail} degraded probes"},
        "The watch renewed its Kerberos ticket again",
        "After degraded probes (alert 126) the watch got a new Kerberos ticket: the KDC serves again.",
        "None.",
        "Kerberos チケットを再び更新しました",
        "縮退 (アラート 126) の後、監視は新しい Kerberos チケットを取得しました。KDC は再び応答しています。",
        "-",
    ),
)

# The write canary (issue 22, opt-in `canary_write`): each probe creates, writes to stable storage,
# reads back and removes a file of its own in a directory of the share or export. Each failure
# the administrator acts on differently has its own row; all are failed probes.
_WRITE_WHERE = (
    " With a write canary each probe creates a file named .fswatch-canary.KIND.ID... in the directory "
    "of the watch's canary_write setting, writes 4 KiB to stable storage, reads them back and removes "
    "the file; FSWATCH_CANARY names the file, FSWATCH_STAGE the step (write_create, write, "
    "write_readback, write_remove, write_sweep)."
)
_WRITE_WHERE_JA = (
    "監視は canary_write 設定のディレクトリに .fswatch-canary.KIND.ID... という名前のファイルを作成し、"
    "安定したストレージへ書き込み、読み戻して削除します。FSWATCH_CANARY がそのファイルを、FSWATCH_STAGE が"
    "手順 (write_create、write、write_readback、write_remove、write_sweep) を示します。"
)
_TABLE += (
    Alert(
        WRITE_READ_ONLY,
        "c3682fb4017447cdb534183c591bae28",
        ERR,
        'The {command} has found {server} read-only: the canary file could not be written ({detail}).',
        "The share or export is read-only: the write canary failed",
        "The server answered and reads still work, but the file system beneath the share or export "
        "refuses every write (STATUS_MEDIA_WRITE_PROTECTED, NFS3ERR_ROFS, NFS4ERR_ROFS): typically ext4 "
        "or XFS remounted read-only after an I/O error (errors=remount-ro), or a snapshot or volume "
        "made read-only. Clients can read but cannot save anything." + _WRITE_WHERE,
        "Look at the server's kernel log (dmesg: the I/O error that made the file system read-only), "
        "repair the storage and the file system (fsck), then remount it read-write or fail the service "
        "over to a node whose storage works.",
        "共有またはエクスポートが読み取り専用です (書き込みカナリアの失敗)",
        "サーバは応答し読み取りもできますが、共有やエクスポートの配下のファイルシステムがすべての書き込みを拒否"
        "しています (STATUS_MEDIA_WRITE_PROTECTED、NFS3ERR_ROFS、NFS4ERR_ROFS)。多くの場合、I/O エラーの後に "
        "ext4 や XFS が読み取り専用で再マウントされています (errors=remount-ro)。クライアントは読めても保存"
        "できません。" + _WRITE_WHERE_JA,
        "サーバのカーネルログ (dmesg) でファイルシステムを読み取り専用にした I/O エラーを確認し、ストレージと"
        "ファイルシステムを修復 (fsck) してから読み書き可能で再マウントするか、ストレージが正常なノードへ"
        "フェイルオーバしてください。",
    ),
    Alert(
        WRITE_NO_SPACE,
        "bef83a5c82ca4c19a8b97fa65edc4e98",
        ERR,
        'The {command} could not write the canary file of {server}: no space left ({detail}).',
        "No space left for the write canary",
        "The file system beneath the share or export is full (STATUS_DISK_FULL, NFS3ERR_NOSPC, "
        "NFS4ERR_NOSPC), or a thin pool beneath it is. SMB servers answer an exhausted quota with "
        "STATUS_DISK_FULL as well (smbd maps EDQUOT so, for Windows clients): over SMB this alert also "
        "stands for the quota of the watch's user (or of the guest account)." + _WRITE_WHERE,
        "Free space on the file system (df on the server), grow it or its thin pool, or raise the "
        "quota of the user the server writes as.",
        "書き込みカナリアのための空き領域がありません",
        "共有やエクスポートの配下のファイルシステム (またはシンプール) が満杯です (STATUS_DISK_FULL、"
        "NFS3ERR_NOSPC、NFS4ERR_NOSPC)。SMB サーバはクォータ超過も STATUS_DISK_FULL で返すため、SMB では監視"
        "のユーザ (またはゲスト) のクォータ超過も含みます。" + _WRITE_WHERE_JA,
        "ファイルシステムの空き領域を確保する (サーバで df を確認)、ファイルシステムやシンプールを拡張する、"
        "またはサーバが書き込むユーザのクォータを引き上げてください。",
    ),
    Alert(
        WRITE_QUOTA,
        "926db06d015843e1932e4c28f4758cc8",
        ERR,
        'The {command} could not write the canary file of {server}: quota exceeded ({detail}).',
        "The quota of the write canary's user is exhausted",
        "The server refused the write because the quota of the user it writes as is exhausted "
        "(NFS3ERR_DQUOT, NFS4ERR_DQUOT, STATUS_QUOTA_EXCEEDED). Over NFS the probe writes as uid 0, "
        "which a root-squashing server maps to its anonymous user. That user's clients cannot save "
        "either." + _WRITE_WHERE,
        "Raise the quota (setquota, xfs_quota) or free space owned by that user on the server.",
        "書き込みカナリアのユーザのクォータを超えています",
        "サーバが書き込むユーザのクォータを超えたため、書き込みが拒否されました (NFS3ERR_DQUOT、"
        "NFS4ERR_DQUOT、STATUS_QUOTA_EXCEEDED)。NFS では監視は uid 0 で書き込み、root squash を行うサーバは"
        "それを匿名ユーザに変換します。" + _WRITE_WHERE_JA,
        "サーバでクォータを引き上げる (setquota、xfs_quota) か、そのユーザが所有する領域を空けてください。",
    ),
    Alert(
        WRITE_DENIED,
        "734ac317e78a482db5650e24bd3e8fac",
        ERR,
        'The {command} was denied writing the canary file of {server} ({detail}).',
        "The server denied the write canary",
        "The server refused to create, write or remove the canary file for the watch's identity "
        "(STATUS_ACCESS_DENIED, NFS3ERR_ACCES, NFS3ERR_PERM, NFS4ERR_ACCESS, NFS4ERR_PERM): the "
        "directory's permissions or ACL, a read-only share (read only = yes), an export without "
        "write access for this client, or root squash (the probe writes as uid 0 over NFS; a "
        "guest session writes as the guest account, usually nobody; a Kerberos watch as the user its "
        "principal maps to)." + _WRITE_WHERE,
        "Give the watch's identity write access to the canary directory (an SMB user of its own; over "
        "NFS a directory writable by the anonymous user, or no_root_squash for this client), or correct "
        "the watch's canary_write setting. If this started without a change of settings, find out who "
        "changed the permissions.",
        "サーバが書き込みカナリアを拒否しました",
        "サーバが監視のユーザに対してカナリアファイルの作成、書き込み、削除を拒否しました (STATUS_ACCESS_DENIED、"
        "NFS3ERR_ACCES、NFS3ERR_PERM、NFS4ERR_ACCESS、NFS4ERR_PERM)。ディレクトリの権限や ACL、読み取り専用の"
        "共有、このクライアントに書き込みを許さないエクスポート、root squash (NFS では監視は uid 0 で書き込み"
        "ます。ゲストのセッションはゲストアカウント、通常 nobody で、Kerberos の監視はプリンシパルに対応するユーザで"
        "書き込みます) が原因です。" + _WRITE_WHERE_JA,
        "監視のユーザにカナリアのディレクトリへの書き込み権を与える (専用の SMB ユーザ、NFS では匿名ユーザが"
        "書き込めるディレクトリか、このクライアントへの no_root_squash)、または監視の canary_write 設定を修正"
        "してください。",
    ),
    Alert(
        WRITE_BLOCKED,
        "cf4518d798ea4ea3b690252f5c196edb",
        ERR,
        'The {command} has not written the canary file of {server} within the timeout ({detail}).',
        "Writing the canary file blocked",
        "The server answered every earlier step of the probe (reads included), but a step of the "
        "write canary did not finish by the probe's deadline, or the server dropped the connection "
        "during it: the storage beneath accepts reads (often from caches) but stalls writes - a thin "
        "pool out of space that queues I/O, a hung SAN path, a frozen or degraded RAID, a network file "
        "system under the share or export. Clients that save hang. The file may stay behind: a later "
        "probe of the watch removes it." + _WRITE_WHERE,
        "Check the storage beneath the share or export (dmesg, multipath, the thin pool, the RAID) and "
        "the server's load. A server that is only slow to write needs a longer timeout.",
        "カナリアファイルの書き込みが停止しました",
        "サーバはそれまでの監視の手順 (読み取りを含む) には応答しましたが、書き込みカナリアの手順が監視の"
        "タイムアウトまでに終わらないか、その途中で接続が切られました。配下のストレージが読み取りには (多くは"
        "キャッシュから) 応答しても書き込みを止めています。保存するクライアントは停止します。ファイルが残った"
        "場合は、監視の後の回で削除されます。" + _WRITE_WHERE_JA,
        "共有やエクスポートの配下のストレージ (dmesg、multipath、シンプール、RAID) とサーバの負荷を確認して"
        "ください。書き込みが遅いだけのサーバには、より長いタイムアウトを設定してください。",
    ),
    Alert(
        WRITE_MISMATCH,
        "60dcc539825b4df291c1dd673f433611",
        ERR,
        'The {command} read back other data than it wrote to the canary file of {server} ({detail}).',
        "The write canary read back other data than it wrote",
        "The server acknowledged the write of the canary's 4 KiB to stable storage, but reading them "
        "back gave other bytes, or fewer: the server, its cache or the storage beneath returns data "
        "that is not what clients wrote (corruption, a misbehaving cache or storage layer)." + _WRITE_WHERE,
        "Treat the server's storage as corrupting data: stop writing to it, fail the service over, and "
        "check the storage stack (dmesg, the RAID or SAN, the file system with fsck).",
        "書き込みカナリアが書き込んだものと異なるデータを読み戻しました",
        "サーバはカナリアの 4 KiB を安定したストレージへ書き込んだと応答しましたが、読み戻したデータが異なるか"
        "不足しています。サーバ、そのキャッシュ、または配下のストレージがクライアントの書き込みと異なるデータ"
        "を返しています (データ破損)。" + _WRITE_WHERE_JA,
        "サーバのストレージがデータを破損しているものとして扱い、書き込みを止めてフェイルオーバし、ストレージ"
        "の構成 (dmesg、RAID や SAN、fsck によるファイルシステム) を確認してください。",
    ),
    Alert(
        WRITE_FAILED,
        "47fd57fd8794469b9622cbd5220a0f49",
        ERR,
        'The {command} could not write the canary file of {server}: {detail}.',
        "The write canary failed",
        "The server answered, but refused a step of the write canary for a reason other than a "
        "read-only file system, no space, quota or permissions: the NT status (FSWATCH_NTSTATUS) or "
        "NFS status (FSWATCH_RPC_STATUS) says which, e.g. STATUS_OBJECT_PATH_NOT_FOUND / NFS3ERR_NOENT "
        "(the canary directory is missing), NFS3ERR_NOTDIR (it is not a directory), NFS3ERR_IO / "
        "NFS4ERR_IO (the storage beneath)." + _WRITE_WHERE,
        "Create the canary directory (writable by the watch's identity), correct the watch's canary_write "
        "setting, or check the storage beneath the share or export.",
        "書き込みカナリアが失敗しました",
        "サーバは応答しましたが、読み取り専用、空き領域不足、クォータ、権限以外の理由で書き込みカナリアの手順を"
        "拒否しました。NT ステータス (FSWATCH_NTSTATUS) または NFS ステータス (FSWATCH_RPC_STATUS) が原因を"
        "示します (例: STATUS_OBJECT_PATH_NOT_FOUND / NFS3ERR_NOENT はカナリアのディレクトリが存在しない、"
        "NFS3ERR_NOTDIR はディレクトリではない、NFS3ERR_IO / NFS4ERR_IO は配下のストレージ)。" + _WRITE_WHERE_JA,
        "カナリアのディレクトリを (監視のユーザが書き込めるように) 作成するか、監視の canary_write 設定を修正"
        "するか、共有やエクスポートの配下のストレージを確認してください。",
    ),
)

# Nothing silently not applied (issue 23): a request that finds no watch, or one that cannot take it.
_TABLE += (
    Alert(
        NOT_RUNNING,
        "c645a198a056484c9753379743ccfb26",
        WARNING,
        'The {command} with the specified monitor id is not running.',
        "A request found no running watch",
        "pause, continue, inject or stop (fswatch, or clp_sambamon/clp_nfsmon -pause, -continue, "
        "-inject, -stop) named a watch that is not running: nothing was paused, continued, "
        "injected or stopped. The command exits 6, except clp_*mon -stop, which exits 0: the "
        "watch's own end is what makes the cluster fail over, and the group's stop script then "
        "stops a watch that has already ended.",
        "Check the identifier and the watch's state (fswatch status KIND ID); start the watch first "
        "if it should run.",
        "指定された識別子の監視は実行されていません",
        "pause、continue、inject または stop (fswatch、または clp_sambamon/clp_nfsmon の -pause、"
        "-continue、-inject、-stop) で指定された監視が実行されていないため、何も行われなかったことを"
        "示します。コマンドは 6 で終了します。ただし clp_*mon -stop は 0 で終了します (監視自身の終了が"
        "フェイルオーバの契機となり、その後グループの停止スクリプトが既に終了した監視を停止するため)。",
        "識別子と監視の状態 (fswatch status KIND ID) を確認してください。監視が必要であれば先に起動して"
        "ください。",
    ),
    Alert(
        NOT_TAKEN,
        "6e01c10b82d6437595135ab37cf96379",
        WARNING,
        'The {command} with the specified monitor id cannot take this request.',
        "A running watch cannot take a request",
        "The watch runs, but cannot take the request now: it is paused (an injection needs a "
        "probing watch, and continue would clear it), or it runs an earlier release of fswatch "
        "that does not read this request (fault injection came after 0.1.0 was first released). "
        "Nothing was written; the command exits 7. The cause is in FSWATCH_REASON.",
        "Continue a paused watch first. A watch of an earlier release runs the old code until it "
        "is restarted: restart it in a maintenance window (README: Upgrading), then ask again.",
        "実行中の監視が要求を受け付けられません",
        "監視は実行中ですが、この要求を今は受け付けられないことを示します。監視が中断中であるか "
        "(擬似障害には監視中であることが必要で、continue はそれを取り消します)、この要求を読まない以前の "
        "fswatch のリリースで実行されています。何も書き込まれず、コマンドは 7 で終了します。",
        "中断中の監視は先に再開してください。以前のリリースの監視は再起動するまで古いコードで動作します。"
        "保守時間内に再起動してから (README: Upgrading)、もう一度実行してください。",
    ),
)

# What a watch runs (issue 26): its settings on SIGHUP / SIGUSR1 and over `fswatch add`, and
# its runtime files written again after alert 42.
_TABLE += (
    Alert(
        SETTINGS_SAME,
        "01750174ff914849be01bdcaa6fc1b91",
        INFO,
        'The {command} runs with these settings: {detail}.',
        "fswatch reports the settings a watch runs",
        "The watch @FSWATCH_WATCH@ got SIGHUP or SIGUSR1 and logs the settings it runs "
        "(FSWATCH_SETTINGS) and its settings file, which says the same. A watch does not reload: "
        "its settings are its detection bound, promised to the cluster when it started.",
        "None.",
        "fswatch が監視の設定を表示しました",
        "監視が SIGHUP または SIGUSR1 を受け、実行中の設定 (FSWATCH_SETTINGS) を出力したことを示します。"
        "設定ファイルの内容は同じです。監視は設定を再読み込みしません。",
        "-",
    ),
    Alert(
        SETTINGS_DIFFER,
        "bb9db45a6abf4deaa7b65341639ae6b3",
        WARNING,
        'The {command} keeps the settings it started with until it is restarted: {detail}.',
        "A watch's settings file differs from the settings it runs",
        "The settings file of the watch @FSWATCH_WATCH@ (FSWATCH_SETTINGS_FILE) says otherwise than "
        "the settings the running watch started with (FSWATCH_SETTINGS), or cannot be read: someone "
        "ran fswatch add on a running watch, or edited the file. The watch does not reload; it keeps "
        "watching with the settings it started with, and fswatch status shows the difference. "
        "Logged by fswatch add, and by the watch on SIGHUP or SIGUSR1.",
        "Restart the watch to apply the file: systemctl restart fswatch-KIND@ID (a unit), or stop and "
        "start it where a cluster runs it. Or run fswatch add again with the running settings.",
        "監視の設定ファイルが実行中の設定と異なります",
        "監視の設定ファイル (FSWATCH_SETTINGS_FILE) の内容が、実行中の監視が起動時に読み込んだ設定 "
        "(FSWATCH_SETTINGS) と異なるか、読み取れません。監視は設定を再読み込みせず、起動時の設定で監視を"
        "続けます。",
        "設定ファイルを適用するには監視を再起動してください (systemctl restart fswatch-KIND@ID、"
        "クラスタが実行している場合は停止と起動)。",
    ),
    Alert(
        RUNTIME_WRITABLE,
        "5e89ecec17334f849d190721a899b482",
        NOTICE,
        'The {command} can write its state again ({detail}).',
        "fswatch writes a watch's state again",
        "After alert 42, the watch @FSWATCH_WATCH@ could write its state and metrics under its runtime "
        "directory again: fswatch status, the OCF monitor and Prometheus see its current state.",
        "None.",
        "fswatch が再び状態を書き込めるようになりました",
        "アラート 42 の後、監視が実行時ディレクトリに状態とメトリクスを再び書き込めるようになったことを示します。",
        "-",
    ),
)

# Evidence from the server's own process, and the verdict pushed to Pacemaker (issue 18).
_TABLE += (
    Alert(
        EVIDENCE_STOPPED,
        "d7a1aea3a0c2452abf292b99224fbf26",
        ERR,
        'The {command} has seen the process serving {server} stopped ({detail}); it declares the server failed '
        'without the remaining retries.',
        "The file server's process is stopped: declared at once",
        "The probe failed at its deadline while every thread of the process serving its connection on this node "
        "was stopped (SIGSTOP, state T or t) or its cgroup was frozen, with no CPU time and no context switch "
        "through the second half of the probe (FSWATCH_EVIDENCE_PROCESS, FSWATCH_EVIDENCE_STATE, "
        "FSWATCH_EVIDENCE_SECONDS). A stopped process answers nobody until someone continues it, so the watch "
        "declares the server failed at once (within interval + timeout of the stall) instead of after retries + 1 "
        "failed probes. Alert 6 (or 98) follows.",
        "Find out who stopped or froze the server (a debugger, a checkpoint tool, a cgroup freezer, a hung "
        "job control session) and continue it, or let the cluster fail the service over. The evidence setting "
        "(evidence = off) turns this off.",
        "ファイルサーバのプロセスが停止しています (即時に異常と判断)",
        "監視の接続を処理するこのノード上のプロセスのすべてのスレッドが停止 (SIGSTOP、状態 T または t) しているか、"
        "その cgroup が凍結されており、監視の後半に CPU 時間もコンテキストスイッチもないまま、監視がタイムアウト"
        "しました。停止したプロセスは再開されるまで応答しないため、リトライ回数を待たずに異常と判断します。"
        "続いてアラート 6 (または 98) が表示されます。",
        "サーバを停止または凍結したもの (デバッガ、チェックポイントツール、cgroup freezer など) を確認して再開"
        "するか、クラスタにフェイルオーバさせてください。evidence = off でこの判断を無効にできます。",
    ),
    Alert(
        EVIDENCE_BLOCKED,
        "373b7bfb1b854e1bafe6cc5aa20172df",
        ERR,
        'The {command} has seen the process serving {server} blocked ({detail}); it declares the server failed '
        'without the remaining retries.',
        "The file server's process is blocked: declared at once (evidence = blocked)",
        "The probe failed at its deadline while every thread of the process serving its connection on this node "
        "slept (S or D) with no CPU time and no context switch through the second half of the probe; the text "
        "names where the threads wait in the kernel (FSWATCH_EVIDENCE_WCHAN; FSWATCH_EVIDENCE_STACK where the "
        "watch may read it). A hung storage beneath the server looks like this, but so does a server waiting out "
        "a short hiccup of its own backend (a KDC, winbind, DNS, a network file system), which is why the watch "
        "declares at once on it only with the setting evidence = blocked. Alert 6 (or 98) follows.",
        "Check what the threads wait for: the storage beneath the share or export (dmesg, multipath, the FUSE "
        "or network file system), or the backend named by the wait. If the server's backend has short hiccups "
        "that should not fail the service over, set evidence = stopped.",
        "ファイルサーバのプロセスが停滞しています (即時に異常と判断、evidence = blocked)",
        "監視の接続を処理するこのノード上のプロセスのすべてのスレッドが待機 (S または D) したまま、監視の後半に "
        "CPU 時間もコンテキストスイッチもなく、監視がタイムアウトしました。詳細にはスレッドがカーネル内で待って"
        "いる場所が示されます。ストレージの停止はこのように見えますが、バックエンド (KDC、winbind、DNS、ネット"
        "ワークファイルシステム) の短い停滞を待つサーバも同じように見えるため、evidence = blocked の設定がある"
        "場合にだけ即時に異常と判断します。続いてアラート 6 (または 98) が表示されます。",
        "スレッドが待っているもの (共有やエクスポートの配下のストレージ、示されたバックエンド) を確認してください。"
        "バックエンドの短い停滞でフェイルオーバさせたくない場合は evidence = stopped を設定してください。",
    ),
    Alert(
        PUSHED,
        "f9bff49c742c4496a653582362476a6a",
        NOTICE,
        'The {command} has told the cluster at once that the server failed ({detail}).',
        "fswatch told Pacemaker at once that the server failed",
        "A watch run by ocf:fswatch:samba or ocf:fswatch:nfs in resource mode ended with its server declared "
        "failed, and its unit told Pacemaker at once (the drop-in's ExecStopPost=, as root: crm_resource --fail "
        "for the watch's own resource on this node, FSWATCH_PUSH) instead of leaving it to the next monitor "
        "operation; Pacemaker recovers the group as for a failed monitor.",
        "None: the cluster recovers the service group. The monitor operation reports the same failure.",
        "クラスタにファイルサーバの異常を通知しました",
        "リソースモードで OCF エージェントから起動された監視が異常を判断して終了し、そのユニットが直ちに "
        "Pacemaker に通知したこと (ExecStopPost=、root で crm_resource --fail) を示します。次の monitor 操作を"
        "待ちません。",
        "対処は不要です。クラスタがサービスグループを回復します。",
    ),
    Alert(
        PUSH_FAILED,
        "8723abf6aff8434e9117a4fcada89fe3",
        WARNING,
        'The {command} could not tell the cluster at once ({detail}); the monitor operation will report the '
        'failure.',
        "fswatch could not tell Pacemaker at once",
        "The unit of a watch that declared its server failed tried to tell Pacemaker at once (crm_resource "
        "--fail, FSWATCH_PUSH) and the command failed or did not end in time (it is bounded and killed after "
        "2 s). Nothing is lost but time: the agent's next monitor operation reports the failure, as it does "
        "without the push.",
        "Check that the controller runs on this node (crm_mon) and that the resource and node in FSWATCH_PUSH "
        "are the ones Pacemaker knows; the detail has crm_resource's status and last words.",
        "クラスタに異常を直接通知できませんでした",
        "異常を判断した監視のユニットが Pacemaker に直ちに通知しようとしましたが (crm_resource --fail)、コマンドが"
        "失敗したか時間内に終了しませんでした。次の monitor 操作が異常を報告します。",
        "このノードでコントローラが動作しているか (crm_mon)、FSWATCH_PUSH のリソースとノードを確認してください。",
    ),
    Alert(
        EVIDENCE_UNAVAILABLE,
        "df726ca1ce284a71bcaaee40d10aedb1",
        WARNING,
        'The {command} cannot look at the process serving {server} ({detail}); it declares the server failed '
        'after the retries only.',
        "fswatch cannot read the file server's process",
        "The server runs on this node, but the watch could not find or read the process serving its "
        "connection (it needs to read other users' open files in /proc: CAP_SYS_PTRACE, which the units "
        "grant). Without that evidence a stopped server is declared after retries + 1 failed probes, as "
        "before. Logged once per watch.",
        "Run the watch from its unit (fswatch-samba@ / fswatch-nfs@), or as root, or give it CAP_SYS_PTRACE; "
        "or set evidence = off to say that this is expected.",
        "ファイルサーバのプロセスを参照できません",
        "サーバはこのノードで動作していますが、監視の接続を処理するプロセスを見つけるか読むことができません "
        "(/proc で他のユーザの開いているファイルを読む権限 CAP_SYS_PTRACE が必要です。ユニットはこれを付与します)。"
        "停止したサーバはリトライ回数の後に異常と判断されます。",
        "ユニットから監視を起動するか、root または CAP_SYS_PTRACE で実行してください。想定どおりであれば "
        "evidence = off を設定してください。",
    ),
)

# NFS with Kerberos (issue 25): RPCSEC_GSS in fswatch's own RPC client.
_TABLE += (
    Alert(
        KRB5_REQUIRED,
        "2e86edd1b06746dd9cebc9b44dffe596",
        ERR,
        {"nfs": "{command}: export requires sec={detail}; this watch has no Kerberos credentials (--keytab)"},
        "The NFS export requires Kerberos; the watch has no Kerberos credentials",
        "The export accepts only RPCSEC_GSS with Kerberos (sec=krb5, krb5i or krb5p: the MOUNT reply's flavor "
        "list, or NFSv4 SECINFO after NFS4ERR_WRONGSEC), and the watch has no principal and keytab, so the "
        "server refuses each of its calls (AUTH_TOOWEAK, NFS4ERR_WRONGSEC). fswatch add refuses such a watch "
        "when it can reach the server; a probe fails with this alert.",
        "Give the watch a Kerberos principal and its keytab: fswatch add nfs ... --principal NAME@REALM "
        "--keytab FILE (and --spn-host NAME when it probes an IP address), or let the export accept sec=sys.",
        "NFS エクスポートが Kerberos を要求していますが、監視に Kerberos の資格情報がありません",
        "エクスポートは Kerberos による RPCSEC_GSS (sec=krb5、krb5i、krb5p) だけを受け付けますが、監視には"
        "プリンシパルとキータブがないため、サーバはすべての呼び出しを拒否します (AUTH_TOOWEAK、NFS4ERR_WRONGSEC)。",
        "fswatch add nfs ... --principal NAME@REALM --keytab FILE で Kerberos の資格情報を与えるか、"
        "エクスポートで sec=sys を許可してください。",
    ),
    Alert(
        GSS_REFUSED,
        "b6443a9942384f5db068a21ce934a166",
        ERR,
        {"nfs": "{command}: RPC: the server refused the Kerberos (RPCSEC_GSS) context ({detail})"},
        "The NFS server refused the watch's Kerberos context",
        "The watch got a Kerberos ticket for the server's principal nfs/NAME, but the NFS server did not accept "
        "the RPCSEC_GSS context made with it (a GSS major status in its answer), or refused a call of an "
        "established context (RPCSEC_GSS_CREDPROBLEM, RPCSEC_GSS_CTXPROBLEM). The server's keytab lacks or has a "
        "stale key for nfs/NAME, it cannot map the principal to a user, or its own Kerberos setup is broken: "
        "clients cannot use the export either.",
        "Check the NFS server's keytab (klist -k: nfs/NAME at the KDC's key version), its Kerberos configuration "
        "(nfs-ganesha NFS_KRB5, knfsd's rpc.svcgssd or gssproxy) and its ID mapping; the server's log says more.",
        "NFS サーバが監視の Kerberos コンテキストを拒否しました",
        "監視はサーバのプリンシパル nfs/NAME のチケットを得ましたが、NFS サーバはそれによる RPCSEC_GSS コンテキスト"
        "を受け付けませんでした。サーバのキータブ、Kerberos の設定、ID マッピングに問題があります。",
        "NFS サーバのキータブ (klist -k)、Kerberos の設定 (nfs-ganesha の NFS_KRB5、knfsd の gssproxy)、ID "
        "マッピングを確認してください。",
    ),
    Alert(
        GSS_BAD_REPLY,
        "2effac11c06348d7b9bbde9ca2389204",
        ERR,
        {"nfs": "{command}: RPC: a reply failed its Kerberos (RPCSEC_GSS) check ({detail})"},
        "An NFS reply failed its Kerberos integrity check",
        "Under RPCSEC_GSS every reply carries a verifier (a MIC of the call's sequence number) and, with krb5i or "
        "krb5p, a checksummed or sealed body. One of them did not verify, or carried another call's sequence "
        "number: the reply was altered on the way, or the server answered from another context.",
        "Check the network path to the NFS server (a middlebox that alters packets) and the server; a server "
        "restarted with another key answers so until the watch's next probe makes a new context.",
        "NFS の応答が Kerberos の整合性検査に失敗しました",
        "RPCSEC_GSS では各応答に検証子 (シーケンス番号の MIC) があり、krb5i、krb5p では本体にチェックサムまたは暗号化"
        "があります。そのいずれかが検証できないか、別の呼び出しのシーケンス番号でした。",
        "NFS サーバへのネットワーク経路 (パケットを改変する中継装置) とサーバを確認してください。",
    ),
)

ALERTS: Dict[int, Alert] = {a.id: a for a in _TABLE}


def alert(alert_id: int) -> Alert:
    return ALERTS[alert_id]
