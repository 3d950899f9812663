package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one step of the schema. Migrations are append-only: a
// released one is never edited, a change is a new one. docs/schema.md
// describes the resulting schema.
type migration struct {
	version int
	name    string
	sql     string
}

var migrations = []migration{
	{1, "batches, members and the raw table", `
CREATE TABLE batches (
	batch_id         INTEGER PRIMARY KEY,
	sender           TEXT    NOT NULL,
	sequence         INTEGER NOT NULL,
	manifest_file    TEXT    NOT NULL,
	manifest_sha256  TEXT    NOT NULL,
	data_file        TEXT    NOT NULL,
	data_size        INTEGER NOT NULL,
	data_sha256      TEXT    NOT NULL,
	files            INTEGER NOT NULL,
	records          INTEGER NOT NULL,
	session_time_sum INTEGER NOT NULL,
	first_event      TEXT,
	last_event       TEXT,
	created          TEXT    NOT NULL,
	loaded_at        TEXT    NOT NULL,
	first_entry_id   INTEGER,
	last_entry_id    INTEGER,
	UNIQUE (sender, sequence)
);
CREATE TABLE members (
	member_id INTEGER PRIMARY KEY,
	batch_id  INTEGER NOT NULL REFERENCES batches (batch_id),
	position  INTEGER NOT NULL,
	name      TEXT    NOT NULL,
	sha256    TEXT    NOT NULL,
	size      INTEGER NOT NULL,
	records   INTEGER NOT NULL,
	UNIQUE (batch_id, position)
);
CREATE TABLE raw (
	entry_id           INTEGER PRIMARY KEY,
	user_name          TEXT,
	user_domain        TEXT,
	status_type        TEXT    NOT NULL,
	session_id         TEXT,
	session_time       INTEGER NOT NULL,
	delay_time         INTEGER NOT NULL,
	nas_id             TEXT,
	local_aas_id       TEXT,
	home_aas_id        TEXT,
	stop_time_gmt      TEXT    NOT NULL,
	stop_time_local    TEXT,
	time_zone          TEXT,
	create_date        TEXT    NOT NULL,
	history_time       TEXT,
	record_status      TEXT    NOT NULL,
	pair_status        TEXT,
	user_name_sent     TEXT,
	event_stamped      INTEGER NOT NULL,
	nas_ip             TEXT,
	nas_identifier     TEXT,
	source             TEXT,
	packet_id          INTEGER,
	authenticator      TEXT,
	nas_port           TEXT,
	nas_port_id        TEXT,
	nas_port_type      TEXT,
	calling_station_id TEXT,
	called_station_id  TEXT,
	framed_ip          TEXT,
	input_octets       INTEGER NOT NULL,
	output_octets      INTEGER NOT NULL,
	input_packets      INTEGER NOT NULL,
	output_packets     INTEGER NOT NULL,
	terminate_cause    TEXT,
	class              TEXT,
	origin             TEXT,
	batch_id           INTEGER NOT NULL REFERENCES batches (batch_id),
	member_id          INTEGER NOT NULL REFERENCES members (member_id),
	line               INTEGER NOT NULL
);
`},
	{2, "raw: a counter that does not fit is NULL, and problem says why", `
CREATE TABLE raw_v2 (
	entry_id           INTEGER PRIMARY KEY,
	user_name          TEXT,
	user_domain        TEXT,
	status_type        TEXT    NOT NULL,
	session_id         TEXT,
	session_time       INTEGER NOT NULL,
	delay_time         INTEGER NOT NULL,
	nas_id             TEXT,
	local_aas_id       TEXT,
	home_aas_id        TEXT,
	stop_time_gmt      TEXT    NOT NULL,
	stop_time_local    TEXT,
	time_zone          TEXT,
	create_date        TEXT    NOT NULL,
	history_time       TEXT,
	record_status      TEXT    NOT NULL,
	pair_status        TEXT,
	user_name_sent     TEXT,
	event_stamped      INTEGER NOT NULL,
	nas_ip             TEXT,
	nas_identifier     TEXT,
	source             TEXT,
	packet_id          INTEGER,
	authenticator      TEXT,
	nas_port           TEXT,
	nas_port_id        TEXT,
	nas_port_type      TEXT,
	calling_station_id TEXT,
	called_station_id  TEXT,
	framed_ip          TEXT,
	input_octets       INTEGER,
	output_octets      INTEGER,
	input_packets      INTEGER,
	output_packets     INTEGER,
	terminate_cause    TEXT,
	class              TEXT,
	origin             TEXT,
	batch_id           INTEGER NOT NULL REFERENCES batches (batch_id),
	member_id          INTEGER NOT NULL REFERENCES members (member_id),
	line               INTEGER NOT NULL,
	problem            TEXT
);
INSERT INTO raw_v2 SELECT *, NULL FROM raw;
DROP TABLE raw;
ALTER TABLE raw_v2 RENAME TO raw;
`},
	{3, "roamclean: raw_data and raw_outcomes behind the raw view; the sessions history, clean runs and session changes", `
ALTER TABLE raw RENAME TO raw_data;
CREATE TABLE raw_outcomes (
	entry_id      INTEGER PRIMARY KEY,
	record_status TEXT    NOT NULL,
	reason        TEXT    NOT NULL,
	pair_status   TEXT,
	session_key   TEXT,
	duplicate_of  INTEGER,
	run_id        INTEGER NOT NULL
);
CREATE VIEW raw AS SELECT
	d.entry_id, d.user_name, d.user_domain, d.status_type, d.session_id, d.session_time, d.delay_time, d.nas_id,
	d.local_aas_id, d.home_aas_id, d.stop_time_gmt, d.stop_time_local, d.time_zone, d.create_date,
	coalesce((SELECT c.started_at FROM clean_runs c WHERE c.run_id = o.run_id), d.history_time) AS history_time,
	coalesce(o.record_status, d.record_status) AS record_status,
	coalesce(o.pair_status, d.pair_status) AS pair_status, d.user_name_sent, d.event_stamped, d.nas_ip,
	d.nas_identifier, d.source, d.packet_id, d.authenticator, d.nas_port, d.nas_port_id, d.nas_port_type,
	d.calling_station_id, d.called_station_id, d.framed_ip, d.input_octets, d.output_octets, d.input_packets,
	d.output_packets, d.terminate_cause, d.class, d.origin, d.batch_id, d.member_id, d.line, d.problem,
	o.reason, o.session_key, o.duplicate_of
FROM raw_data d LEFT JOIN raw_outcomes o ON o.entry_id = d.entry_id;
CREATE INDEX raw_group ON raw_data (nas_id, session_id);
CREATE INDEX raw_nas_control ON raw_data (nas_id, stop_time_gmt) WHERE session_id IS NULL;
CREATE TABLE sessions (
	session_key     TEXT    NOT NULL UNIQUE,
	period          TEXT    NOT NULL,
	local_isp       TEXT    NOT NULL,
	home_isp        TEXT    NOT NULL,
	user_name       TEXT    NOT NULL,
	user            TEXT    NOT NULL,
	realm           TEXT    NOT NULL,
	nas_id          TEXT    NOT NULL,
	session_id      TEXT    NOT NULL,
	start_utc       TEXT    NOT NULL,
	start_local     TEXT    NOT NULL,
	stop_utc        TEXT    NOT NULL,
	stop_local      TEXT    NOT NULL,
	time_zone       TEXT    NOT NULL,
	duration        INTEGER NOT NULL,
	input_octets    INTEGER NOT NULL,
	output_octets   INTEGER NOT NULL,
	input_packets   INTEGER NOT NULL,
	output_packets  INTEGER NOT NULL,
	terminate_cause TEXT,
	estimated       INTEGER NOT NULL,
	start_derived   INTEGER NOT NULL,
	counter_reset   INTEGER NOT NULL,
	records         INTEGER NOT NULL,
	start_entry_id  INTEGER,
	final_entry_id  INTEGER NOT NULL,
	revision        INTEGER NOT NULL,
	digest          TEXT    NOT NULL
);
CREATE INDEX sessions_period ON sessions (period, stop_utc);
CREATE TABLE clean_runs (
	run_id           INTEGER PRIMARY KEY,
	mode             TEXT    NOT NULL,
	period           TEXT,
	started_at       TEXT    NOT NULL,
	finished_at      TEXT    NOT NULL,
	first_entry_id   INTEGER,
	last_entry_id    INTEGER,
	records_in       INTEGER NOT NULL,
	session_records  INTEGER NOT NULL,
	duplicates       INTEGER NOT NULL,
	irrelevant       INTEGER NOT NULL,
	rejected         INTEGER NOT NULL,
	reasons          TEXT    NOT NULL,
	reclassified     INTEGER NOT NULL,
	sessions_added   INTEGER NOT NULL,
	sessions_changed INTEGER NOT NULL,
	sessions_removed INTEGER NOT NULL
);
CREATE TABLE session_changes (
	run_id       INTEGER NOT NULL REFERENCES clean_runs (run_id),
	session_key  TEXT    NOT NULL,
	change       TEXT    NOT NULL,
	old_revision INTEGER,
	new_revision INTEGER,
	old_digest   TEXT,
	new_digest   TEXT,
	PRIMARY KEY (run_id, session_key)
) WITHOUT ROWID;
`},
	{4, "roamreport: reports (one row per reported revision of a period) and charges (the rated sessions)", `
CREATE TABLE reports (
	report_id       INTEGER PRIMARY KEY,
	period          TEXT    NOT NULL,
	revision        INTEGER NOT NULL,
	folder          TEXT    NOT NULL,
	created_at      TEXT    NOT NULL,
	sessions        INTEGER NOT NULL,
	exceptions      INTEGER NOT NULL,
	seconds         INTEGER NOT NULL,
	billed_seconds  INTEGER NOT NULL,
	provider        INTEGER NOT NULL,
	consumer        INTEGER NOT NULL,
	fees            INTEGER NOT NULL,
	tariffs_sha256  TEXT    NOT NULL,
	content_sha256  TEXT    NOT NULL,
	first_charge_id INTEGER,
	last_charge_id  INTEGER,
	UNIQUE (period, revision)
);
CREATE TABLE charges (
	charge_id      INTEGER PRIMARY KEY,
	report_id      INTEGER NOT NULL REFERENCES reports (report_id),
	session_key    TEXT    NOT NULL,
	digest         TEXT    NOT NULL,
	local_isp      TEXT    NOT NULL,
	home_isp       TEXT    NOT NULL,
	user_name      TEXT    NOT NULL,
	session_id     TEXT    NOT NULL,
	stop_utc       TEXT    NOT NULL,
	stop_local     TEXT    NOT NULL,
	duration       INTEGER NOT NULL,
	tariff_line    INTEGER,
	billed_seconds INTEGER NOT NULL,
	provider       INTEGER NOT NULL,
	consumer       INTEGER NOT NULL,
	fee            INTEGER NOT NULL
);
`},
	{5, "publishing: the raw entries a report's REJECTS files cover; what each ISP was given", `
ALTER TABLE reports ADD COLUMN rejects_upto INTEGER NOT NULL DEFAULT 0;
CREATE TABLE publications (
	publication_id  INTEGER PRIMARY KEY,
	report_id       INTEGER NOT NULL REFERENCES reports (report_id),
	isp             TEXT    NOT NULL,
	destination     TEXT    NOT NULL,
	folder          TEXT    NOT NULL,
	manifest_sha256 TEXT    NOT NULL,
	files           INTEGER NOT NULL,
	uploaded        INTEGER NOT NULL,
	bytes           INTEGER NOT NULL,
	published_at    TEXT    NOT NULL
);
CREATE INDEX publications_report ON publications (report_id, isp);
CREATE INDEX raw_outcomes_rejected ON raw_outcomes (entry_id) WHERE record_status = 'rejected';
CREATE TABLE publication_files (
	publication_id INTEGER NOT NULL REFERENCES publications (publication_id),
	file           TEXT    NOT NULL,
	sha256         TEXT    NOT NULL,
	size           INTEGER NOT NULL,
	uploaded       INTEGER NOT NULL,
	PRIMARY KEY (publication_id, file)
) WITHOUT ROWID;
`},
	{6, "report_rejects: the rejected records each revision's REJECTS files list, as judged when it was written", `
CREATE TABLE report_rejects (
	report_id INTEGER NOT NULL REFERENCES reports (report_id),
	entry_id  INTEGER NOT NULL,
	reason    TEXT    NOT NULL,
	PRIMARY KEY (report_id, entry_id)
) WITHOUT ROWID;
INSERT INTO report_rejects (report_id, entry_id, reason)
SELECT r.report_id, o.entry_id, o.reason FROM reports r
JOIN raw_outcomes o ON o.record_status = 'rejected' AND o.entry_id <= r.rejects_upto
JOIN raw_data d ON d.entry_id = o.entry_id
WHERE d.stop_time_gmt >= r.period || '-01T00:00:00.000000000Z'
AND d.stop_time_gmt < strftime('%Y-%m-01T00:00:00.000000000Z', r.period || '-01', '+1 month');
`},
}

// migrate brings the schema up to date, one transaction per migration, so
// a crash leaves the database at a whole version. PRAGMA user_version is
// the version SQLite itself keeps; schema_migrations is its readable log.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > Version() {
		return fmt.Errorf("database schema is at version %d, newer than this program's %d: use a newer release", v, Version())
	}
	for _, m := range migrations {
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("schema migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn): no other writer can race us
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v >= m.version {
		return nil
	}
	if v != m.version-1 {
		return fmt.Errorf("database is at version %d, cannot skip to %d", v, m.version)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, FormatTime(time.Now())); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return err
	}
	return tx.Commit()
}

// Version is the schema version this code writes.
func Version() int { return migrations[len(migrations)-1].version }
