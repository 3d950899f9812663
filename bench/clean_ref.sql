-- The reference for bench/clean.sh: what a competent engineer would write
-- as one plain SQL pass over the same raw rows, in the sqlite3 shell:
-- duplicates with GROUP BY (the first of each key), sessions with a window
-- function over each sender's NAS and session id (the Stop, else the last
-- record, gives the figures; the first Start the start), realms of no
-- partner rejected, and an outcome per record. It does less than roamclean
-- (no derived-start clustering, no NAS reboots, no counters kept from
-- interims, no revisions), so it is a floor, not a twin. bench/clean.sh
-- puts the realms table first (from partners.csv).
PRAGMA cache_size = -16384;
BEGIN IMMEDIATE;
CREATE TEMP TABLE canon (entry_id INTEGER PRIMARY KEY);
INSERT INTO canon
SELECT min(d.entry_id)
FROM raw_data d JOIN batches b USING (batch_id)
WHERE d.session_id IS NOT NULL
GROUP BY b.sender, d.nas_id, d.session_id, d.status_type, d.session_time, d.input_octets, d.output_octets,
	d.input_packets, d.output_packets, CASE WHEN d.event_stamped = 1 THEN d.stop_time_gmt END;
CREATE TABLE ref_sessions AS
SELECT sender, nas_id, session_id, user_name_sent, home_isp, start_utc, stop_utc, duration, input_octets, output_octets, estimated
FROM (
	SELECT b.sender, d.nas_id, d.session_id, d.user_name_sent, r.isp AS home_isp, d.stop_time_gmt AS stop_utc,
		d.session_time AS duration, d.input_octets, d.output_octets,
		min(CASE WHEN d.status_type = 'Start' THEN d.stop_time_gmt END) OVER w AS start_utc,
		max(d.status_type = 'Stop') OVER w = 0 AS estimated,
		row_number() OVER (PARTITION BY b.sender, d.nas_id, d.session_id
			ORDER BY d.status_type = 'Stop' DESC, d.stop_time_gmt DESC) AS rn
	FROM canon c JOIN raw_data d USING (entry_id) JOIN batches b USING (batch_id)
	JOIN temp.realms r ON r.realm = lower(substr(d.user_name_sent, instr(d.user_name_sent, '@') + 1))
	WINDOW w AS (PARTITION BY b.sender, d.nas_id, d.session_id)
) WHERE rn = 1 AND duration > 0;
CREATE TABLE ref_outcomes AS
SELECT d.entry_id,
	CASE WHEN d.session_id IS NULL THEN 'irrelevant'
	     WHEN c.entry_id IS NULL THEN 'duplicate'
	     WHEN r.realm IS NULL THEN 'rejected'
	     WHEN d.status_type = 'Interim-Update' THEN 'irrelevant'
	     ELSE 'session' END AS record_status
FROM raw_data d LEFT JOIN canon c USING (entry_id)
LEFT JOIN temp.realms r ON r.realm = lower(substr(d.user_name_sent, instr(d.user_name_sent, '@') + 1));
COMMIT;
SELECT 'sessions', count(*) FROM ref_sessions;
SELECT record_status, count(*) FROM ref_outcomes GROUP BY 1;
