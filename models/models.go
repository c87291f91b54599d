// Package models chooses the model family an experiment's model.type names:
// the one place where that choice is made. Programs call New and hand the
// family to train and sample, which know no family.
package models

import (
	"fmt"

	"github.com/scoregen/scoregen/classify"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/gan"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/score"
	"github.com/scoregen/scoregen/vae"
)

// New is the family of cfg's model.type.
func New(cfg *configs.Config) (model.Family, error) {
	switch cfg.Model.Type {
	case "unet":
		return score.New(cfg)
	case "vae":
		return vae.New(cfg)
	case "gan":
		return gan.New(cfg)
	case "classifier":
		return classify.New(cfg)
	}
	return nil, fmt.Errorf("model.type %q: want unet, vae, gan or classifier", cfg.Model.Type)
}
