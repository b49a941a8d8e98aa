-- The entries of an uploaded keystore, as read by the keystore source plugin at upload
-- (a JSON array of alias names). Not a secret: aliases are labels.
ALTER TABLE keystores ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]';
