-- The language each account last used the pages in (issue 13, item 6 and
-- item 3's messages): waitlist offers and draw results are written to the
-- outbox by jobs and by other patients' requests, long after the patient's
-- own request, and go out in this language. Rows are only added (the
-- latest is the account's language); a language is no personal data.
CREATE TABLE account_languages (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL,
	lang       TEXT NOT NULL,
	created_ms INTEGER NOT NULL
);
CREATE INDEX account_languages_account ON account_languages (account_id, id);
