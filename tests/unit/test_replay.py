"""stack-backup's point-in-time replay: where a replay to a time ends, read from the
binlogs' GTID events. (The replay itself, through a binlog server and the restored
server's parallel applier, runs in tests/e2e/test_restore.py on both releases.)"""

import datetime
import struct

import pytest

from stack.hosttools.stack_backup.replay import BINLOG_MAGIC, GTID_EVENT, HEADER, gtid_events, target_of
from stack.hosttools.stack_backup.store import Failure

T0 = datetime.datetime(2026, 12, 4, 12, 0, 0, tzinfo=datetime.timezone.utc)
OTHER = 2  # a query event: skipped by its size


def event(kind: int, at: datetime.datetime, server: int = 1, body: bytes = b"x" * 30) -> bytes:
    return HEADER.pack(int(at.timestamp()), kind, server, HEADER.size + len(body), 0, 0) + body


def gtid(at, domain, seq, server=1) -> bytes:
    return event(GTID_EVENT, at, server, struct.pack("<QIB", seq, domain, 0) + b"\0" * 6)


def binlog(tmp_path, name, *events, torn=b"") -> str:
    path = tmp_path / name
    path.write_bytes(BINLOG_MAGIC + b"".join(events) + torn)
    return str(path)


def seconds(n):
    return T0 + datetime.timedelta(seconds=n)


@pytest.fixture
def two(tmp_path):
    first = binlog(tmp_path, "mysql-bin.000001", event(OTHER, seconds(0)), gtid(seconds(1), 0, 5),
                   event(OTHER, seconds(1)), gtid(seconds(2), 0, 6), event(OTHER, seconds(2)))
    second = binlog(tmp_path, "mysql-bin.000002", gtid(seconds(3), 0, 7), event(OTHER, seconds(3)),
                    gtid(seconds(5), 0, 8), event(OTHER, seconds(5)))
    return [first, second]


def test_the_gtid_events_are_read_in_order_with_their_commit_times(two):
    assert list(gtid_events(two[0])) == [(seconds(1), "0-1-5"), (seconds(2), "0-1-6")]


def test_a_time_target_ends_at_the_last_transaction_committed_before_it(two):
    assert target_of(two, "0-1-4", seconds(3)) == "0-1-6"  # committed at the target: not replayed
    assert target_of(two, "0-1-4", seconds(4)) == "0-1-7"


def test_a_time_before_any_transaction_leaves_the_backups_position(two):
    assert target_of(two, "0-1-4", seconds(1)) == "0-1-4"


def test_with_no_time_the_target_is_where_the_binlogs_end(two):
    assert target_of(two, "0-1-4") == "0-1-8"


def test_each_domain_keeps_its_own_last_transaction(tmp_path):
    path = binlog(tmp_path, "mysql-bin.000001", gtid(seconds(1), 0, 5), gtid(seconds(2), 1, 9, server=3),
                  gtid(seconds(4), 0, 6))
    assert target_of([path], "0-1-4,1-3-8", seconds(3)) == "0-1-5,1-3-9"


def test_a_torn_last_event_of_a_live_binlog_ends_it(tmp_path):
    path = binlog(tmp_path, "mysql-bin.000001", gtid(seconds(1), 0, 5), torn=gtid(seconds(2), 0, 6)[:25])
    assert list(gtid_events(path)) == [(seconds(1), "0-1-5")]


def test_a_file_that_is_not_a_binlog_is_refused(tmp_path):
    path = tmp_path / "mysql-bin.000001"
    path.write_bytes(b"age-encryption.org/v1\n")
    with pytest.raises(Failure, match="is not a binlog"):
        list(gtid_events(str(path)))
