DROP TABLE installation_counters;
