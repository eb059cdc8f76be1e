ALTER TABLE providers DROP COLUMN native_responses;
