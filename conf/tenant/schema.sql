-- Example multi-tenant schema (the analysis report's tables) with row-level security on the
-- tenant context pgward sets for every session. Run as the owning role, after signing.sql:
--   psql -d app -f signing.sql -f schema.sql -f notify.sql [-f seed.sql]
-- then store pgward's signing_secret in pgward.secret (see signing.sql).
--
-- Every policy reads the organization ids through pgward.org_ids(), which counts them only
-- when pgward's signature verifies, never through current_setting('app.user_org_ids'):
-- a function body, trigger or extension that changes that setting runs inside the server,
-- where pgward cannot see it, and a policy reading the setting directly would believe it.
-- Without the secret stored, or with pgward not signing, every table shows no rows.
--
-- The call sits in a scalar subquery, (SELECT pgward.org_ids())::uuid[], so it runs once
-- per statement (an InitPlan), not once per row (the cast keeps "= ANY" reading it as an
-- array, not as a set of rows); policies keyed by a parent write
-- "col = ANY (ARRAY(SELECT ...))", also computed once, which lets the planner use the index
-- on col (an IN (SELECT ...) becomes a filter on every row).
--
-- RLS is ENABLEd, not FORCEd: the owner (migrations, workers, the lookup connection) sees
-- every row; application roles see their organizations' rows only. Superusers and roles
-- with BYPASSRLS always see everything.

DO $$
BEGIN
	IF to_regprocedure('pgward.org_ids()') IS NULL THEN
		RAISE EXCEPTION 'pgward.org_ids() does not exist: the policies below read it'
			USING HINT = 'Load conf/tenant/signing.sql first.';
	END IF;
END $$;

CREATE TABLE IF NOT EXISTS organizations (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS organization_members (
	organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	user_id uuid NOT NULL,
	role text NOT NULL DEFAULT 'member',
	PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX IF NOT EXISTS organization_members_user_id ON organization_members (user_id);

CREATE TABLE IF NOT EXISTS domains (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	domain text NOT NULL UNIQUE,
	deleted_at timestamptz
);
CREATE INDEX IF NOT EXISTS domains_organization_id ON domains (organization_id);

CREATE TABLE IF NOT EXISTS customer_configs (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	domain_id uuid REFERENCES domains (id) ON DELETE CASCADE,
	settings jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS scraped_pages (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	domain_id uuid NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
	url text NOT NULL,
	title text,
	content text,
	scraped_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS scraped_pages_domain_id ON scraped_pages (domain_id);

CREATE TABLE IF NOT EXISTS conversations (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	domain_id uuid NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
	session_id text,
	metadata jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS conversations_domain_id ON conversations (domain_id);

CREATE TABLE IF NOT EXISTS messages (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	role text NOT NULL,
	content text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_conversation_id ON messages (conversation_id);

-- Jobs are keyed by the domain's name and a job type (pgward's job serialization uses
-- (domain, job_type) with status as the "active" predicate).
CREATE TABLE IF NOT EXISTS scrape_jobs (
	id bigserial PRIMARY KEY,
	domain text NOT NULL,
	job_type text NOT NULL,
	status text NOT NULL DEFAULT 'pending',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS embedding_queue (
	id bigserial PRIMARY KEY,
	page_id uuid NOT NULL REFERENCES scraped_pages (id) ON DELETE CASCADE,
	status text NOT NULL DEFAULT 'pending',
	created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE scraped_pages ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrape_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE embedding_queue ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant ON organizations;
CREATE POLICY tenant ON organizations
	USING (id = ANY ((SELECT pgward.org_ids())::uuid[]));
DROP POLICY IF EXISTS tenant ON organization_members;
CREATE POLICY tenant ON organization_members
	USING (organization_id = ANY ((SELECT pgward.org_ids())::uuid[]));
DROP POLICY IF EXISTS tenant ON domains;
CREATE POLICY tenant ON domains
	USING (organization_id = ANY ((SELECT pgward.org_ids())::uuid[]));
DROP POLICY IF EXISTS tenant ON customer_configs;
CREATE POLICY tenant ON customer_configs
	USING (organization_id = ANY ((SELECT pgward.org_ids())::uuid[]));
DROP POLICY IF EXISTS tenant ON scraped_pages;
CREATE POLICY tenant ON scraped_pages
	USING (domain_id = ANY (ARRAY(SELECT id FROM domains
			     WHERE organization_id = ANY ((SELECT pgward.org_ids())::uuid[]))));
DROP POLICY IF EXISTS tenant ON conversations;
CREATE POLICY tenant ON conversations
	USING (domain_id = ANY (ARRAY(SELECT id FROM domains
			     WHERE organization_id = ANY ((SELECT pgward.org_ids())::uuid[]))));
DROP POLICY IF EXISTS tenant ON messages;
CREATE POLICY tenant ON messages
	USING (conversation_id = ANY (ARRAY(SELECT c.id FROM conversations c JOIN domains d ON d.id = c.domain_id
				   WHERE d.organization_id = ANY ((SELECT pgward.org_ids())::uuid[]))));
DROP POLICY IF EXISTS tenant ON scrape_jobs;
CREATE POLICY tenant ON scrape_jobs
	USING (domain = ANY (ARRAY(SELECT domain FROM domains
			  WHERE organization_id = ANY ((SELECT pgward.org_ids())::uuid[]))));
DROP POLICY IF EXISTS tenant ON embedding_queue;
CREATE POLICY tenant ON embedding_queue
	USING (page_id = ANY (ARRAY(SELECT p.id FROM scraped_pages p JOIN domains d ON d.id = p.domain_id
			   WHERE d.organization_id = ANY ((SELECT pgward.org_ids())::uuid[]))));

-- Application roles reach the tables only through these policies.
GRANT SELECT, INSERT, UPDATE, DELETE ON organizations, organization_members, domains,
	customer_configs, scraped_pages, conversations, messages, scrape_jobs, embedding_queue
	TO PUBLIC;
GRANT USAGE ON SEQUENCE scrape_jobs_id_seq, embedding_queue_id_seq TO PUBLIC;
