package main

import (
	"context"
	"os"
	"runtime/pprof"

	"roamsettle/pkg/clean"
	"roamsettle/pkg/config"
	"roamsettle/pkg/stage"
)

func main() {
	cfg, err := config.Load(os.Args[1], false, nil, config.NeedCentral|config.NeedParties)
	if err != nil {
		panic(err)
	}
	f, _ := os.Create(os.Args[2])
	pprof.StartCPUProfile(f)
	err = clean.Clean(context.Background(), stage.NewText("x", os.Stderr), &cfg.Settlement, clean.Options{})
	pprof.StopCPUProfile()
	println(err)
}
