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
injection) and 114-118 (evidence from the server's own process, the verdict pushed to
Pacemaker). Code names an alert by its constant below (alerts.SLOW), never by its number.
MESSAGE_IDs were made once with `systemd-id128 new` and never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Protocol, Tuple, Union

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


class Voice(Protocol):
    """What a kind of watch lends its alerts (fswatch.kinds.Kind): its name, which keys a
    row's kind-specific texts, and its phrases."""

    name: str
    phrases: Mapping[str, str]


@dataclass(frozen=True)
class Alert:
    id: int
    message_id: str
    priority: int
    text: Optional[str]  # one template for every kind, with the kind's phrases
    subject: str  # catalog Subject (English)
    explanation: str  # catalog body: what happened (English)
    remedy: str  # what the administrator does (English)
    ja_subject: str
    ja_explanation: str  # the seed's 説明 column
    ja_remedy: str  # the seed's 補足 column
    texts: Mapping[str, str] = field(default_factory=dict)  # by kind name, where the kinds differ

    def concerns(self, kind: str) -> bool:
        """Whether a watch of this kind can log the alert."""
        return self.text is not None or kind in self.texts

    def template(self, voice: Voice) -> str:
        """The text for `voice`'s kind, its phrases filled in; {target} and {detail} stay."""
        text = self.texts.get(voice.name, self.text)
        if text is None:
            raise KeyError(f"alert {self.id} has no {voice.name} text")
        for key, phrase in voice.phrases.items():
            text = text.replace("{" + key + "}", phrase)
        return text

    def render(self, voice: Voice, **fields: object) -> str:
        values = {"target": "", "detail": ""}
        values.update({k: v for k, v in fields.items() if v is not None})
        return self.template(voice).format(**values)


def _a(
    alert_id: int,
    message_id: str,
    priority: int,
    text: Union[str, Dict[str, str]],
    *catalog: str,
) -> Alert:
    """A row: id, MESSAGE_ID, priority, the text (one for every kind, or {kind: text}), then
    the catalog's subject, explanation and remedy in English and in Japanese."""
    if isinstance(text, dict):
        return Alert(alert_id, message_id, priority, None, *catalog, texts=text)  # type: ignore[arg-type]
    return Alert(alert_id, message_id, priority, text, *catalog)  # type: ignore[arg-type]


_TABLE: Tuple[Alert, ...] = (
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
        SYSTEM,
        "20f340d8a4c943ea845326d4dd93fa1a",
        ERR,
        'The {command} has detected system error ({target} {detail}).',
        "fswatch hit a system error",
        "A Linux system call failed; the text names the function and the error number.",
        "Check the system's state according to the error number.",
        "システムエラーが発生しました",
        "Linux のシステムエラーが発生したことを示します。xxx は関数名、nn はエラーコードを示します。",
        "エラーコードを元にシステムの状態を確認してください。",
    ),
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
        FAILED_WATCHING,
        "044f686b3c9a465190f5fdac82037196",
        CRIT,
        'The {command} has declared {server} failed and keeps watching it.',
        "fswatch declared the file server failed (health attribute mode)",
        "The watch @FSWATCH_WATCH@ saw its retries + 1 consecutive probes fail. In health attribute "
        "mode it does not end: it sets the node attribute to 0 and keeps probing, so a recovery "
        "sets it to 1 again (alert 91). This entry's FSWATCH_HISTORY field shows the last probes.",
        "Act on the alert logged just before this one; it names the stage and the cause.",
        "ファイルサーバの異常を検出しました (監視は継続します)",
        "ヘルス属性モードで異常を検出したことを示します。監視は終了せず、ノード属性を 0 にして監視を続けます。",
        "直前に表示されているメッセージにより対処を行ってください。",
    ),
    _a(
        METRICS_FAILED,
        "12f98e5d2d884b4a9421a6447c32caec",
        WARNING,
        'The {command} could not write its metrics ({detail}).',
        "fswatch could not write its Prometheus metrics",
        "After every probe the watch writes its metrics to its runtime directory and links them "
        "into node_exporter's textfile directory (FSWATCH_METRICS_DIR). This write or link "
        "failed; the watch keeps watching and tries again after its next probe, and this alert "
        "comes again only after a write has succeeded. Until then Prometheus sees the last "
        "metrics written.",
        "The detail names the file and the cause (a full or read-only file system, a directory "
        "the watch may not write). Set FSWATCH_METRICS_DIR=off to turn metrics off.",
        "メトリクスを書き込めませんでした",
        "監視ごとのメトリクス (Prometheus の textfile 形式) の書き込みまたは公開に失敗したことを示します。"
        "監視は継続し、次の監視の後に再試行します。",
        "詳細に示されたファイルと原因を確認してください。FSWATCH_METRICS_DIR=off でメトリクスを無効にできます。",
    ),
)

# NFSv4 grace period (issue 11): a degraded server, not a failed one, up to a limit.
_TABLE += (
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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

# Evidence from the server's own process, and the verdict pushed to Pacemaker (issue 18).
_TABLE += (
    _a(
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
    _a(
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
    _a(
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
    _a(
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
    _a(
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

ALERTS: Dict[int, Alert] = {a.id: a for a in _TABLE}


def alert(alert_id: int) -> Alert:
    return ALERTS[alert_id]
