"""Replication connections through pgward: IDENTIFY_SYSTEM, BASE_BACKUP (CopyOut) and
START_REPLICATION (CopyBoth) via pg_basebackup -X stream and pg_receivewal."""

import tarfile

from conftest import SUPERUSER, clean_env, run


def _replication_cmd(endpoint, prog, *args):
    return [prog, "-h", endpoint.host, "-p", str(endpoint.port), "-U", SUPERUSER, "-w"] + list(args)


def test_identify_system_same_as_direct(pg, target):
    expected = pg.execute("SELECT system_identifier::text FROM pg_control_system()")[0][0]
    r = target.psql("-c", "IDENTIFY_SYSTEM", dsn_extra={"replication": "database"})
    systemid, timeline, xlogpos, dbname = r.stdout.decode().strip().split("|")
    assert systemid == expected
    assert timeline == "1"
    assert dbname == "postgres"
    r = target.psql("-c", "IDENTIFY_SYSTEM", dsn_extra={"replication": "true"})
    assert r.stdout.decode().split("|")[0] == expected


def test_pg_basebackup_stream(target, tmp_path):
    dest = tmp_path / "backup"
    run(_replication_cmd(target, "pg_basebackup", "-D", str(dest), "-X", "stream", "-c", "fast",
                         "--no-sync", "--no-manifest"), timeout=180, env=clean_env(PGSSLMODE="disable"))
    assert (dest / "PG_VERSION").read_text().strip() == "15"
    assert (dest / "backup_label").exists()
    wal = [p for p in (dest / "pg_wal").iterdir() if len(p.name) == 24]
    assert wal, "pg_basebackup -X stream received no WAL segment"


def test_pg_basebackup_tar_no_wal(target, tmp_path):
    dest = tmp_path / "tar"
    run(_replication_cmd(target, "pg_basebackup", "-D", str(dest), "-F", "t", "-X", "none", "-c", "fast",
                         "--no-sync"), timeout=180, env=clean_env(PGSSLMODE="disable"))
    base = dest / "base.tar"
    assert base.stat().st_size > 1_000_000
    with tarfile.open(base) as tf:
        assert tf.extractfile("PG_VERSION").read().strip() == b"15"


def test_pg_receivewal_until_endpos(pg, target, tmp_path):
    pg.execute("CREATE TABLE IF NOT EXISTS wal_gen (v int); INSERT INTO wal_gen SELECT generate_series(1, 1000)")
    endpos = pg.execute("SELECT pg_current_wal_lsn()::text")[0][0]
    dest = tmp_path / "wal"
    dest.mkdir()
    run(_replication_cmd(target, "pg_receivewal", "-D", str(dest), "--endpos", endpos, "--no-loop",
                         "--no-sync"), timeout=60, env=clean_env(PGSSLMODE="disable"))
    segs = [p for p in dest.iterdir() if p.name.startswith("0000")]
    assert segs, list(dest.iterdir())
