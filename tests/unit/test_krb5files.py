"""fswatch.probes.krb5files: principal names, the keytab and the FILE credential cache, read
within their own bounds (a hostile or truncated file is refused or empty, never a crash)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fswatch.core.errors import UsageError
from fswatch.probes import krb5files
from tests.unit import krb5data

P = "fswprobe@FSW.TEST"
CIFS = "cifs/fs1.fsw.test@FSW.TEST"
TGT = "krbtgt/FSW.TEST@FSW.TEST"


@pytest.mark.parametrize("good", [P, "svc/host.example.com@EXAMPLE.COM", "a@B", "user.name-1_x@REALM.ORG"])
def test_principals_with_a_realm_are_taken(good):
    assert krb5files.check_principal(good) == good


@pytest.mark.parametrize("bad", ["fswprobe", "@FSW.TEST", "a b@R", "a@", "a@R\n", "ä@R", "a//b@R", "x" * 256 + "@R"])
def test_other_principals_are_refused_with_alert_11(bad):
    with pytest.raises(UsageError) as err:
        krb5files.check_principal(bad)
    assert err.value.alert == 11 and "NAME@REALM" in str(err.value)


def test_service_principal_in_the_principals_realm():
    assert krb5files.service_principal("cifs", "fs1.fsw.test.", krb5files.realm_of(P)) == CIFS


def test_keytab_entries_holes_skipped_and_32_bit_kvno():
    data = krb5data.keytab([(P, 2), (P, 300), ("other@FSW.TEST", 5)], hole=True)
    entries = krb5files.parse_keytab(data)
    assert [(e.principal, e.kvno, e.enctype) for e in entries] == [(P, 2, 18), (P, 300, 18), ("other@FSW.TEST", 5, 18)]
    assert krb5files.keytab_principals(entries) == (P, "other@FSW.TEST")
    assert krb5files.keytab_refusal(entries, P, "kt") is None


def test_a_keytab_without_the_principal_says_what_it_holds():
    entries = krb5files.parse_keytab(krb5data.keytab([("other@FSW.TEST", 5)]))
    refusal = krb5files.keytab_refusal(entries, P, "keytab k")
    assert refusal == f"keytab k holds no key for {P} (it holds: other@FSW.TEST)"
    assert krb5files.keytab_refusal((), P, "keytab k") == "keytab k holds no keys"


@pytest.mark.parametrize(
    "data, why",
    [
        (b"", "not a keytab"),
        (b"garbage", "not a keytab"),
        (b"\x05\x01\x00\x00", "0x0501"),
        (krb5data.keytab([(P, 2)])[:-5], "past the end"),
        (b"\x05\x02\x00\x00\x00\x08" + b"\x00\x09" + b"\x00" * 6, "9 components"),
        (b"\x05\x02" + b"\x00" * (krb5files.KEYTAB_MAX_BYTES), "larger than"),
    ],
)
def test_what_is_not_a_keytab_is_a_keytab_error(data, why):
    with pytest.raises(krb5files.KeytabError) as err:
        krb5files.parse_keytab(data)
    assert why in str(err.value)


def test_ccache_tickets_offset_and_configuration_entries():
    data = krb5data.ccache(P, [(TGT, 1000, 37000), (CIFS, 1005, 37000)], kdc_offset=-900)
    cache = krb5files.parse_ccache(data)
    assert cache.principal == P and cache.kdc_offset == -900
    assert [t.server for t in cache.tickets] == [TGT, CIFS]  # X-CACHECONF: entries are no tickets
    ticket = cache.ticket(P, CIFS)
    assert ticket is not None and ticket.lifetime == 35995 and ticket.endtime == 37000
    assert cache.ticket("other@FSW.TEST", CIFS) is None and cache.ticket(P, "cifs/x@FSW.TEST") is None


def test_the_latest_ending_ticket_is_the_one_held():
    data = krb5data.ccache(P, [(CIFS, 1000, 2000), (CIFS, 1500, 5000), (CIFS, 1200, 3000)])
    assert krb5files.parse_ccache(data).ticket(P, CIFS).endtime == 5000


def test_the_refresh_time_entry_goes_and_nothing_else():
    tickets = [(TGT, 1000, 37000), (CIFS, 1005, 37000)]
    data = krb5data.ccache(P, tickets, 7, conf=(krb5data.REFRESH_TIME, krb5data.PA_TYPE))
    cleaned = krb5files.without_refresh_time(data)
    assert cleaned == krb5data.ccache(P, tickets, 7, conf=(krb5data.PA_TYPE,))
    assert krb5files.without_refresh_time(cleaned) == cleaned
    assert krb5files.parse_ccache(cleaned) == krb5files.parse_ccache(data)
    assert krb5files.without_refresh_time(data[:-3]) is None


def test_a_truncated_or_foreign_cache_holds_nothing():
    data = krb5data.ccache(P, [(TGT, 1000, 37000), (CIFS, 1005, 37000)])
    for cut in range(0, len(data) - 1, 7):  # a writer killed anywhere
        assert krb5files.parse_ccache(data[:cut]).tickets == ()
    for foreign in (b"", b"\x05\x02rest", b"\x04\x04", b"x" * 10, b"\x05\x04" + b"\xff" * 64):
        assert krb5files.parse_ccache(foreign) == krb5files.CCache()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 400))
def test_mutated_files_never_raise_anything_but_a_keytab_error(noise, at):
    kt = bytearray(krb5data.keytab([(P, 2), (P, 3)]))
    cc = bytearray(krb5data.ccache(P, [(TGT, 1, 2), (CIFS, 1, 2)]))
    for data in (kt, cc):
        data[at % len(data) : at % len(data) + len(noise)] = noise
    try:
        krb5files.parse_keytab(bytes(kt))
    except krb5files.KeytabError:
        pass
    krb5files.parse_ccache(bytes(cc))  # a damaged cache is an empty one
