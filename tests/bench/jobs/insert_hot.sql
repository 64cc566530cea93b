\set d random(1, 8)
INSERT INTO scrape_jobs (domain, job_type) VALUES (:d, 'full_crawl');
