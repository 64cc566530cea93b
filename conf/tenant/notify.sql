-- Tells every pgward instance (each LISTENs on [tenant] listen_channel) that a user's
-- organizations changed, so its cached organization ids are dropped: the payload is the
-- user id; '*' (after TRUNCATE) drops every cached identity. NOTIFY is sent at commit.
-- Run after schema.sql (it needs organization_members).
--
-- pgward acts only on notifications from roles allowed to send them ([tenant] notify_roles,
-- superusers, its own lookup role): it looks the sender's backend pid up in
-- pg_stat_activity. A session that disconnects right after its commit (psql -c, a script)
-- is usually gone by then, so the trigger also records who sent it: pgward.notify_senders
-- keeps, per backend pid, the login role of the latest transaction that changed
-- organization_members, and pgward reads it for a sender no longer connected.
CREATE SCHEMA IF NOT EXISTS pgward;
GRANT USAGE ON SCHEMA pgward TO PUBLIC;
CREATE UNLOGGED TABLE IF NOT EXISTS pgward.notify_senders (
	pid integer PRIMARY KEY,
	role oid NOT NULL,	     -- the session user: SET ROLE does not change it
	sent_at timestamptz NOT NULL -- the transaction's first change of organization_members
);
-- Only the trigger writes it (as this file's owner); pgward's lookup role reads it, and pids
-- with their roles are no secret (pg_stat_activity shows them to every role).
REVOKE ALL ON pgward.notify_senders FROM PUBLIC;
GRANT SELECT ON pgward.notify_senders TO PUBLIC;

CREATE OR REPLACE FUNCTION organization_members_changed() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- once per transaction: a later row finds sent_at >= now(), the transaction's start
	INSERT INTO pgward.notify_senders AS s (pid, role, sent_at)
	SELECT pg_backend_pid(), r.oid, clock_timestamp() FROM pg_roles r
	WHERE r.rolname = session_user
	ON CONFLICT (pid) DO UPDATE SET role = EXCLUDED.role, sent_at = EXCLUDED.sent_at
		WHERE s.sent_at < now();
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify('pgward_tenant_changed', '*');
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		PERFORM pg_notify('pgward_tenant_changed', OLD.user_id::text);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		PERFORM pg_notify('pgward_tenant_changed', NEW.user_id::text);
	END IF;
	RETURN NULL;
END $$;
-- Firing a trigger needs no EXECUTE privilege; attaching this one elsewhere should.
REVOKE ALL ON FUNCTION organization_members_changed() FROM PUBLIC;

DROP TRIGGER IF EXISTS organization_members_changed ON organization_members;
CREATE TRIGGER organization_members_changed
	AFTER INSERT OR UPDATE OR DELETE ON organization_members
	FOR EACH ROW EXECUTE FUNCTION organization_members_changed();
DROP TRIGGER IF EXISTS organization_members_truncated ON organization_members;
CREATE TRIGGER organization_members_truncated
	AFTER TRUNCATE ON organization_members
	FOR EACH STATEMENT EXECUTE FUNCTION organization_members_changed();
