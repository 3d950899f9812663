package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Publication is one publishing of an ISP's folder of a reported revision:
// where it went and what was sent (Uploaded 0: the destination already
// had every file).
type Publication struct {
	ReportID       int64
	Period         string // of the report (read back only)
	Revision       int64  // of the report (read back only)
	ISP            string
	Destination    string // URL (never a password) or folder
	Folder         string // at the destination
	ManifestSHA256 string
	Files          []PublishedFile
	Uploaded       int64
	Bytes          int64
	PublishedAt    string
}

// PublishedFile is one file of a publication.
type PublishedFile struct {
	Name, SHA256 string
	Size         int64
	Uploaded     bool
}

// AddPublication records a publication, in its own transaction.
func (d *DB) AddPublication(ctx context.Context, p *Publication) error {
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO publications (report_id, isp, destination, folder, manifest_sha256, files, uploaded, bytes, published_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.ReportID, p.ISP, p.Destination, p.Folder, p.ManifestSHA256, len(p.Files), p.Uploaded, p.Bytes, p.PublishedAt)
	if err != nil {
		return fmt.Errorf("record publication of %s: %w", p.ISP, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	for _, f := range p.Files {
		if _, err := tx.ExecContext(ctx, "INSERT INTO publication_files (publication_id, file, sha256, size, uploaded) VALUES (?, ?, ?, ?, ?)",
			id, f.Name, f.SHA256, f.Size, f.Uploaded); err != nil {
			return fmt.Errorf("record publication of %s: %w", p.ISP, err)
		}
	}
	return tx.Commit()
}

// Reports lists every reported revision, by period then revision.
func (d *DB) Reports(ctx context.Context) ([]Report, error) {
	rows, err := d.sql.QueryContext(ctx, "SELECT "+reportColumns+" FROM reports ORDER BY period, revision")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		var r Report
		if err := scanReport(rows, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LastPublications lists, per report and ISP, the latest publication,
// by period, revision, ISP.
func (d *DB) LastPublications(ctx context.Context) ([]Publication, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT p.report_id, r.period, r.revision, p.isp, p.destination, p.folder, p.manifest_sha256,
	p.uploaded, p.bytes, p.published_at FROM publications p JOIN reports r USING (report_id)
	WHERE p.publication_id = (SELECT max(publication_id) FROM publications q WHERE q.report_id = p.report_id AND q.isp = p.isp)
	ORDER BY r.period, r.revision, p.isp`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Publication
	for rows.Next() {
		var p Publication
		if err := rows.Scan(&p.ReportID, &p.Period, &p.Revision, &p.ISP, &p.Destination, &p.Folder, &p.ManifestSHA256,
			&p.Uploaded, &p.Bytes, &p.PublishedAt); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func scanReport(rows *sql.Rows, r *Report) error {
	return rows.Scan(&r.ID, &r.Revision, &r.Period, &r.Folder, &r.CreatedAt, &r.Sessions, &r.Exceptions, &r.Seconds, &r.Billed,
		&r.Provider, &r.Consumer, &r.Fees, &r.TariffsSHA256, &r.ContentSHA256, &r.FirstCharge, &r.LastCharge, &r.RejectsUpTo)
}

// FindReport returns a revision of a period (0: the latest); false when
// there is none.
func (d *DB) FindReport(ctx context.Context, period string, revision int64) (Report, bool, error) {
	q := "SELECT " + reportColumns + " FROM reports WHERE period = ?"
	args := []any{period}
	if revision > 0 {
		q += " AND revision = ?"
		args = append(args, revision)
	}
	rows, err := d.sql.QueryContext(ctx, q+" ORDER BY revision DESC LIMIT 1", args...)
	if err != nil {
		return Report{}, false, err
	}
	defer rows.Close()
	var r Report
	if !rows.Next() {
		return r, false, rows.Err()
	}
	return r, true, scanReport(rows, &r)
}

// HasPublication says whether the same MANIFEST of the same report was
// already recorded as given to the ISP at the destination.
func (d *DB) HasPublication(ctx context.Context, p *Publication) (bool, error) {
	var n int64
	err := d.sql.QueryRowContext(ctx, `SELECT count(*) FROM publications WHERE report_id = ? AND isp = ? AND destination = ?
	AND folder = ? AND manifest_sha256 = ?`, p.ReportID, p.ISP, p.Destination, p.Folder, p.ManifestSHA256).Scan(&n)
	return n > 0, err
}
