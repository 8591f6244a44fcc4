-- Issue lists sorted by first seen or by event count (newest or largest
-- first), like the last-seen order of issues_list / issues_status_list: an
-- index per sort, with and without the status filter, so that a page reads
-- about `limit` index entries and never sorts.
CREATE INDEX issues_first_seen ON issues(project_id, first_seen, id);
CREATE INDEX issues_status_first_seen ON issues(project_id, status, first_seen, id);
CREATE INDEX issues_count ON issues(project_id, event_count, id);
CREATE INDEX issues_status_count ON issues(project_id, status, event_count, id);
