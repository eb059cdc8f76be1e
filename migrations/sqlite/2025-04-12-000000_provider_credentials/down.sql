ALTER TABLE providers DROP COLUMN credentials;
