package main

import (
	"testing"

	"github.com/urfave/cli/v2"
)

func TestSuggest(t *testing.T) {
	t.Parallel()
	commands := []string{"train", "convert", "infer", "eval", "inspect", "doctor", "run", "summary", "bench", "report", "sweep", "completion", "help"}
	flags := []string{"data", "epochs", "batch-size", "lr", "max-lr", "weight-decay", "dropout", "dropout-mode", "recipe", "limit", "seed", "out", "format", "quiet", "q", "help", "h"}
	for _, c := range []struct {
		typed      string
		candidates []string
		want       string
	}{
		{"trian", commands, "train"},     // neighbours swapped: one edit
		{"Train", commands, "train"},     // case alone
		{"evl", commands, "eval"},        // a letter left out
		{"ev", commands, "eval"},         // the beginning of a name
		{"inpsect", commands, "inspect"}, // swapped
		{"sumary", commands, "summary"},
		{"repot", commands, "report"},
		{"bogus", commands, ""},    // nothing near
		{"x", commands, ""},        // too short to guess from
		{"epoch", flags, "epochs"}, // the brief's case
		{"recipie", flags, "recipe"},
		{"batchsize", flags, "batch-size"},
		{"weight_decay", flags, "weight-decay"},
		{"dropout-mod", flags, "dropout-mode"},
		{"Q", flags, "q"},
		{"verbose", flags, ""},
		{"x", flags, ""}, // one letter: any other is one edit away
		{"lt", flags, "lr"},
	} {
		if got := suggest(c.typed, c.candidates); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.typed, got, c.want)
		}
	}
}

func TestFlagErrorText(t *testing.T) {
	t.Parallel()
	flags := []cli.Flag{
		&cli.IntFlag{Name: "epochs"}, &cli.Uint64Flag{Name: "seed"}, &cli.Float64Flag{Name: "lr"},
		&cli.BoolFlag{Name: "force"}, &cli.StringFlag{Name: "shard"}, &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}},
	}
	for _, c := range []struct{ msg, want string }{
		{"flag provided but not defined: -epoch", "unknown flag --epoch; did you mean --epochs?"},
		{"flag provided but not defined: -bogus", "unknown flag --bogus (see lenetkit train --help)"},
		{"flag provided but not defined: -x", "unknown flag -x (see lenetkit train --help)"},
		{"flag needs an argument: -shard", "--shard needs a value (see lenetkit train --help)"},
		{`invalid value "ten" for flag -epochs: parse error`, `--epochs "ten": want a whole number`},
		{`invalid value "-1" for flag -seed: parse error`, `--seed "-1": want a whole number, 0 or more`},
		{`invalid value "fast" for flag -lr: parse error`, `--lr "fast": want a number`},
		{`invalid value "99999999999999999999" for flag -epochs: value out of range`, `--epochs "99999999999999999999": out of range`},
		{`invalid boolean value "maybe" for -force: parse error`, `--force "maybe": want true or false`},
		{"bad flag syntax: ---x", "bad flag syntax: ---x"}, // passed on as it is
	} {
		if got := flagErrorText("lenetkit train", flags, c.msg); got != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.msg, got, c.want)
		}
	}
}
