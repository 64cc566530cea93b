-- Two organizations, one user each (alice in Acme, bob in Globex), with a domain, pages,
-- a conversation, messages, a job and queue entries apiece. The user ids are what a
-- trusted application role passes as options=-c app.user_id=<uuid>.
-- Run as the tables' owner after schema.sql (RLS is not FORCEd, so the owner may insert).
INSERT INTO organizations (id, name) VALUES
	('11111111-1111-4111-8111-111111111111', 'Acme'),
	('22222222-2222-4222-8222-222222222222', 'Globex')
ON CONFLICT DO NOTHING;
INSERT INTO organization_members (organization_id, user_id, role) VALUES
	('11111111-1111-4111-8111-111111111111', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'owner'),
	('22222222-2222-4222-8222-222222222222', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'owner')
ON CONFLICT DO NOTHING;
INSERT INTO domains (id, organization_id, domain) VALUES
	('a0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'acme.example'),
	('b0000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'globex.example')
ON CONFLICT DO NOTHING;
INSERT INTO customer_configs (organization_id, domain_id, settings) VALUES
	('11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000001', '{"plan": "pro"}'),
	('22222222-2222-4222-8222-222222222222', 'b0000000-0000-4000-8000-000000000001', '{"plan": "free"}');
INSERT INTO scraped_pages (id, domain_id, url, title, content) VALUES
	('a1000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001',
	 'https://acme.example/', 'Acme home', 'Acme sells anvils'),
	('a1000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000001',
	 'https://acme.example/pricing', 'Acme pricing', 'Anvils from 10 coins'),
	('b1000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001',
	 'https://globex.example/', 'Globex home', 'Globex sells everything')
ON CONFLICT DO NOTHING;
INSERT INTO conversations (id, domain_id, session_id, metadata) VALUES
	('a2000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 's-acme', '{"channel": "web"}'),
	('b2000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001', 's-globex', '{"channel": "app"}')
ON CONFLICT DO NOTHING;
INSERT INTO messages (conversation_id, role, content) VALUES
	('a2000000-0000-4000-8000-000000000001', 'user', 'How much is an anvil?'),
	('a2000000-0000-4000-8000-000000000001', 'assistant', 'From 10 coins.'),
	('b2000000-0000-4000-8000-000000000001', 'user', 'Do you sell everything?');
INSERT INTO scrape_jobs (domain, job_type, status) VALUES
	('acme.example', 'full_crawl', 'completed'),
	('globex.example', 'full_crawl', 'pending');
INSERT INTO embedding_queue (page_id, status) VALUES
	('a1000000-0000-4000-8000-000000000001', 'pending'),
	('b1000000-0000-4000-8000-000000000001', 'pending');
