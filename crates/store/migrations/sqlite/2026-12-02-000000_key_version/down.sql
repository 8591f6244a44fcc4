DROP TABLE key_version;
