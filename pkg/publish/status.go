package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"roamsettle/pkg/config"
	"roamsettle/pkg/money"
	"roamsettle/pkg/store"
)

// StatusReport is what roamreport status shows; --json prints it as one
// object (docs/publish.md). Amounts are decimal strings, never floats.
type StatusReport struct {
	Periods []PeriodStatus `json:"periods"`
}

// PeriodStatus is one reported period.
type PeriodStatus struct {
	Period    string           `json:"period"`
	Revisions []RevisionStatus `json:"revisions"`
}

// RevisionStatus is one reported revision and what each ISP was given.
type RevisionStatus struct {
	Revision      int64          `json:"revision"`
	Folder        string         `json:"folder"`
	CreatedAt     string         `json:"created_at"`
	Sessions      int64          `json:"sessions"`
	Exceptions    int64          `json:"no_tariff"`
	Seconds       int64          `json:"seconds"`
	BilledSeconds int64          `json:"billed_seconds"`
	Provider      string         `json:"provider"`
	Consumer      string         `json:"consumer"`
	Fees          string         `json:"fees"`
	Published     []ISPPublished `json:"published"`
	NotPublished  []string       `json:"not_published"`
}

// ISPPublished is the latest publication of a revision to an ISP.
type ISPPublished struct {
	ISP         string `json:"isp"`
	Destination string `json:"destination"`
	Folder      string `json:"folder"`
	PublishedAt string `json:"published_at"`
	FilesSent   int64  `json:"files_sent"`
	BytesSent   int64  `json:"bytes_sent"`
}

// Status writes every reported revision (of period, when not "") and, per
// ISP, its latest publication.
func Status(ctx context.Context, s *config.Settlement, w io.Writer, period string, asJSON bool) error {
	rep := &StatusReport{Periods: []PeriodStatus{}}
	db, err := store.OpenExisting(ctx, s.DB)
	switch {
	case store.IsNotExist(err):
		return writeStatus(w, rep, asJSON)
	case err != nil:
		return err
	}
	defer db.Close()
	reports, err := db.Reports(ctx)
	if err != nil {
		return err
	}
	pubs, err := db.LastPublications(ctx)
	if err != nil {
		return err
	}
	byReport := map[int64][]store.Publication{}
	for _, p := range pubs {
		byReport[p.ReportID] = append(byReport[p.ReportID], p)
	}
	for _, r := range reports {
		if period != "" && r.Period != period {
			continue
		}
		if n := len(rep.Periods); n == 0 || rep.Periods[n-1].Period != r.Period {
			rep.Periods = append(rep.Periods, PeriodStatus{Period: r.Period})
		}
		rs := RevisionStatus{Revision: r.Revision, Folder: r.Folder, CreatedAt: r.CreatedAt, Sessions: r.Sessions,
			Exceptions: r.Exceptions, Seconds: r.Seconds, BilledSeconds: r.Billed, Provider: money.Cents(r.Provider).String(),
			Consumer: money.Cents(r.Consumer).String(), Fees: money.Cents(r.Fees).String(), Published: []ISPPublished{}, NotPublished: []string{}}
		given := map[string]bool{}
		for _, p := range byReport[r.ID] {
			given[p.ISP] = true
			rs.Published = append(rs.Published, ISPPublished{ISP: p.ISP, Destination: p.Destination, Folder: p.Folder,
				PublishedAt: p.PublishedAt, FilesSent: p.Uploaded, BytesSent: p.Bytes})
		}
		if s.Partners != nil {
			for _, x := range sortedIDs(s.Partners) {
				if !given[x] {
					rs.NotPublished = append(rs.NotPublished, x)
				}
			}
		}
		last := &rep.Periods[len(rep.Periods)-1]
		last.Revisions = append(last.Revisions, rs)
	}
	return writeStatus(w, rep, asJSON)
}

func writeStatus(w io.Writer, rep *StatusReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if len(rep.Periods) == 0 {
		_, err := fmt.Fprintln(w, "nothing reported yet")
		return err
	}
	for _, p := range rep.Periods {
		for _, r := range p.Revisions {
			fmt.Fprintf(w, "%s revision %d (%s), written %s: %d sessions, %d no_tariff, provider %s, fees %s\n",
				p.Period, r.Revision, r.Folder, r.CreatedAt, r.Sessions, r.Exceptions, r.Provider, r.Fees)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, x := range r.Published {
				fmt.Fprintf(tw, "  %s\tpublished %s\t%s\t%s\t%d file(s), %d bytes sent\n", x.ISP, x.PublishedAt, x.Destination, x.Folder, x.FilesSent, x.BytesSent)
			}
			for _, id := range r.NotPublished {
				fmt.Fprintf(tw, "  %s\tnot published\n", id)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}
