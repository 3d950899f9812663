package main

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"roamsettle/pkg/clean"
	"roamsettle/pkg/config"
	"roamsettle/pkg/stage"
)

func main() {
	cfg, err := config.Load(os.Args[1], false, nil, config.NeedCentral|config.NeedParties)
	if err != nil {
		panic(err)
	}
	if len(os.Args) > 3 {
		go func() {
			time.Sleep(20 * time.Second)
			runtime.GC()
			f, _ := os.Create(os.Args[3])
			pprof.WriteHeapProfile(f)
			f.Close()
		}()
	}
	f, _ := os.Create(os.Args[2])
	pprof.StartCPUProfile(f)
	err = clean.Clean(context.Background(), stage.NewText("x", os.Stderr), &cfg.Settlement, clean.Options{})
	pprof.StopCPUProfile()
	println(err)
}
