//go:build !gpu

package device

import "gorgonia.org/gorgonia"

func compileCUDA(Options, []gorgonia.Nodes) (*Plans, error) { return nil, ErrNoCUDA }
