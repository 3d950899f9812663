// Command roamsim writes deterministic sample roaming traffic for demos,
// tests and benchmarks: a FreeRADIUS detail file for `roamcollect import`,
// radclient input to drive `roamcollect listen`, or the same traffic sent
// by a NAS built in (send) where radclient is not installed. docs/import.md
// describes it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
	"roamsettle/pkg/sim"
	"roamsettle/pkg/stage"

	_ "time/tzdata" // partners.csv time zones must not depend on the host
)

func main() { os.Exit(app.Main(newApp(), os.Args, os.Stderr)) }

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Value: "roam.toml", EnvVars: []string{"ROAM_CONFIG"}, Usage: "read --partners ([settlement] partners) and --isp ([edge] isp) from this `FILE` when they are not given"},
		&cli.StringFlag{Name: "partners", EnvVars: []string{"ROAM_PARTNERS"}, Usage: "partners.csv `FILE`: the realms users roam from"},
		&cli.StringFlag{Name: "isp", EnvVars: []string{"ROAM_ISP"}, Usage: "the local ISP (partner `ID`) whose NAS sees the traffic"},
		&cli.IntFlag{Name: "sessions", Value: 1000, Usage: "sessions to start"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed: the same seed gives byte-identical output"},
		&cli.StringFlag{Name: "start", Value: "2026-06-01", Usage: "first day (UTC) sessions start, `YYYY-MM-DD`"},
		&cli.IntFlag{Name: "days", Value: 30, Usage: "sessions start within this many days"},
		&cli.StringFlag{Name: "nas-ip", Value: "127.0.0.1", Usage: "NAS-IP-Address of the NAS (an [[edge.nas]] address to import)"},
		&cli.StringFlag{Name: "nas-id", Value: "nas1", Usage: "NAS-Identifier of the NAS"},
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:   "roamsim",
		Usage:  "write deterministic sample roaming traffic (same seed, same bytes) to stdout",
		Action: app.NeedSubcommand,
		Commands: []*cli.Command{
			{
				Name:   "detail",
				Usage:  "a FreeRADIUS detail file, for roamcollect import",
				Flags:  flags(),
				Action: func(c *cli.Context) error { return write(c, sim.Detail, c.App.Writer) },
			},
			{
				Name:   "radclient",
				Usage:  "radclient input (attribute lists separated by blank lines), to drive roamcollect listen",
				Flags:  flags(),
				Action: func(c *cli.Context) error { return write(c, sim.Radclient, c.App.Writer) },
			},
			{
				Name:  "send",
				Usage: "the radclient traffic sent as Accounting-Requests by a NAS built in (where radclient is not installed)",
				Flags: append(flags(),
					&cli.StringFlag{Name: "to", Value: "127.0.0.1:18130", Usage: "`HOST:PORT` of the accounting server"},
					&cli.StringFlag{Name: "secret-file", Required: true, Usage: "`FILE` holding the RADIUS shared secret"},
					&cli.IntFlag{Name: "parallel", Value: 16, Usage: "requests in flight at once (like radclient -p)"},
				),
				Action: send,
			},
		},
	}
}

// send generates the radclient traffic into a pipe and sends it.
func send(c *cli.Context) error {
	if n := c.Int("parallel"); n < 1 || n > 1024 {
		return stage.Usagef("--parallel %d: want 1 to 1024 requests in flight", n)
	}
	secret, err := config.ReadSecretFile(c.String("secret-file"))
	if err != nil {
		return stage.Usagef("--secret-file: %w", err)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := write(c, sim.Radclient, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	st, err := sim.Send(ctx, pr, sim.SendOptions{Addr: c.String("to"), Secret: []byte(secret), Parallel: c.Int("parallel")})
	pr.CloseWithError(io.ErrClosedPipe) // stops the generator if Send ended early
	if gerr := <-done; gerr != nil && !errors.Is(gerr, io.ErrClosedPipe) {
		return gerr // the generator's own error (a flag, partners.csv), which also ended Send
	}
	fmt.Fprintf(c.App.Writer, "sent %d requests to %s, %d answered\n", st.Sent, c.String("to"), st.Answered)
	return err
}

func write(c *cli.Context, f sim.Format, w io.Writer) error {
	start, err := time.Parse(time.DateOnly, c.String("start"))
	if err != nil {
		return stage.Usagef("--start %q: want YYYY-MM-DD", c.String("start"))
	}
	ip, err := netip.ParseAddr(c.String("nas-ip"))
	if err != nil {
		return stage.Usagef("--nas-ip %q: want an IP address", c.String("nas-ip"))
	}
	if c.Int("sessions") < 0 || c.Int("days") < 1 {
		return stage.Usagef("--sessions must be 0 or more and --days 1 or more")
	}
	partners, isp, err := parties(c)
	if err != nil {
		return err
	}
	_, err = sim.Write(w, sim.Options{
		Partners: partners, ISP: isp, Sessions: c.Int("sessions"), Seed: c.Uint64("seed"),
		Start: start, Days: c.Int("days"), NASIP: ip.Unmap(), NASID: c.String("nas-id"),
	}, f)
	return err
}

// parties returns the partners and the local ISP: from --partners and
// --isp, or, for what is not given, from the configuration file.
func parties(c *cli.Context) (*config.Partners, string, error) {
	file, isp := c.String("partners"), c.String("isp")
	var partners *config.Partners
	if file == "" || isp == "" {
		cfg, err := config.Load(c.String("config"), false, nil, config.NeedEdge|config.NeedParties)
		if err != nil {
			return nil, "", stage.Usagef("give --partners and --isp, or a configuration to take them from: %w", err)
		}
		if file == "" {
			file, partners = cfg.Settlement.PartnersFile, cfg.Settlement.Partners
		}
		if isp == "" {
			isp = cfg.Edge.ISP
		}
	}
	if partners == nil {
		var err error
		if partners, err = config.LoadPartners(file); err != nil {
			return nil, "", err
		}
	}
	if _, ok := partners.ByID(isp); !ok {
		return nil, "", stage.Usagef("--isp %q is not a partner id in %s", isp, file)
	}
	return partners, isp, nil
}
