DROP INDEX issues_status_count;
DROP INDEX issues_count;
DROP INDEX issues_status_first_seen;
DROP INDEX issues_first_seen;
