\set d random(1, 1000000)
INSERT INTO scrape_jobs (domain, job_type) VALUES (:d, 'full_crawl');
