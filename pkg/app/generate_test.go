package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestGenerateManPageAndCompletion(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		a := testApp(func(*cli.Context) error { return nil })
		a.Writer = &stdout
		code := Main(a, append([]string{"t"}, args...), &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, man, errs := run(ManPageArg)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{".TH t 1", ".SH NAME", ".SH EXIT STATUS", ".B 4\nlocked: another run holds the lock", ".SH FILES", "--stale-after"} {
		if !strings.Contains(man, w) {
			t.Errorf("man page lacks %q:\n%s", w, man)
		}
	}
	// Every code of --help's EXIT STATUS is in the man page.
	for _, line := range strings.Split(strings.TrimSpace(ExitStatus), "\n")[1:] {
		code, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !strings.Contains(man, ".B "+code+"\n") {
			t.Errorf("man page lacks exit status %s", code)
		}
	}
	if _, bash, _ := run(BashScriptArg); !strings.Contains(bash, "complete -o bashdefault -o default -o nospace -F _t_complete t\n") {
		t.Errorf("bash script:\n%s", bash)
	}
	if _, zsh, _ := run(ZshScriptArg); !strings.HasPrefix(zsh, "#compdef t\n") {
		t.Errorf("zsh script:\n%s", zsh)
	}
	// What the scripts ask (--generate-bash-completion) urfave/cli reads
	// from os.Args, so deb/'s test runs it on the installed commands.
	// The hidden arguments count only alone: with others they are flags
	// the command does not know (exit 2).
	if code, _, errs := run(ManPageArg, "do"); code != 2 || !strings.Contains(errs, "generate-man-page") {
		t.Errorf("with more arguments: exit %d: %s", code, errs)
	}
}
