-- Tells every pgward instance (each LISTENs on [tenant] listen_channel) that a user's
-- organizations changed, so its cached organization ids are dropped: the payload is the
-- user id; '*' (after TRUNCATE) drops every cached identity. NOTIFY is sent at commit.
CREATE OR REPLACE FUNCTION organization_members_changed() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
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

DROP TRIGGER IF EXISTS organization_members_changed ON organization_members;
CREATE TRIGGER organization_members_changed
	AFTER INSERT OR UPDATE OR DELETE ON organization_members
	FOR EACH ROW EXECUTE FUNCTION organization_members_changed();
DROP TRIGGER IF EXISTS organization_members_truncated ON organization_members;
CREATE TRIGGER organization_members_truncated
	AFTER TRUNCATE ON organization_members
	FOR EACH STATEMENT EXECUTE FUNCTION organization_members_changed();
