// Package configs holds the experiment files and loads them: the embedded
// default.yaml, then an experiment file, then SCOREGEN_* environment
// variables, then --set KEY=VALUE flags, each overriding the one before.
// Unknown keys, wrong types and impossible values are errors naming the
// key, what was expected and where the value came from: the file, the
// environment variable or the --set flag.
package configs

import (
	"bytes"
	"embed"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

//go:embed *.yaml
var files embed.FS

// Config is one experiment.
type Config struct {
	Model       Model       `mapstructure:"model" yaml:"model"`
	SDE         SDE         `mapstructure:"sde" yaml:"sde"`
	Consistency Consistency `mapstructure:"consistency" yaml:"consistency"`
	VAE         VAE         `mapstructure:"vae" yaml:"vae"`
	GAN         GAN         `mapstructure:"gan" yaml:"gan"`
	Classifier  Classifier  `mapstructure:"classifier" yaml:"classifier"`
	Data        Data        `mapstructure:"data" yaml:"data"`
	Train       Train       `mapstructure:"train" yaml:"train"`
	Sample      Sample      `mapstructure:"sample" yaml:"sample"`
	Device      string      `mapstructure:"device" yaml:"device"`
	Precision   string      `mapstructure:"precision" yaml:"precision"`
	GPU         GPU         `mapstructure:"gpu" yaml:"gpu"`
}

// GPU is how the CUDA backend runs (device: cuda).
type GPU struct {
	TF32 bool `mapstructure:"tf32" yaml:"tf32"` // TF32 tensor cores for float32 products (FP32 when false)
}

// Model is the family (model.type: unet, vae, gan or classifier) and, for unet, the
// score network: a U-Net of the reference family.
type Model struct {
	Type string `mapstructure:"type" yaml:"type"`
	// Objective is what the U-Net learns: score (denoising score matching
	// on the SDE), flow (conditional flow matching, the linear path) or
	// consistency (consistency training, Song et al. 2023).
	Objective    string  `mapstructure:"objective" yaml:"objective"`
	Ch           int     `mapstructure:"ch" yaml:"ch"`
	Mult         []int   `mapstructure:"mult" yaml:"mult"`
	NumResBlocks int     `mapstructure:"num_res_blocks" yaml:"num_res_blocks"`
	AttnRes      []int   `mapstructure:"attn_res" yaml:"attn_res"`
	Dropout      float64 `mapstructure:"dropout" yaml:"dropout"`
	// NumClasses > 0 trains a class-conditional network on the data's
	// labels, each dropped (to "no label") with probability PUncond, for
	// classifier-free guidance.
	NumClasses int     `mapstructure:"num_classes" yaml:"num_classes"`
	PUncond    float64 `mapstructure:"p_uncond" yaml:"p_uncond"`
}

// SDE is the forward diffusion: ve, vp or subvp.
type SDE struct {
	Type     string  `mapstructure:"type" yaml:"type"`
	SigmaMin float64 `mapstructure:"sigma_min" yaml:"sigma_min"`
	SigmaMax float64 `mapstructure:"sigma_max" yaml:"sigma_max"`
	BetaMin  float64 `mapstructure:"beta_min" yaml:"beta_min"`
	BetaMax  float64 `mapstructure:"beta_max" yaml:"beta_max"`
	N        int     `mapstructure:"n" yaml:"N"`
	Eps      float64 `mapstructure:"eps" yaml:"eps"` // smallest t in training and likelihood
}

// Consistency is consistency training (model.objective consistency;
// Song, Dhariwal, Chen and Sutskever 2023, Algorithm 3) on EDM's
// variance-exploding ODE, t = sigma in [sigma_min, sigma_max], or with
// improved: true improved consistency training (Song and Dhariwal 2023):
// the first paper's CIFAR-10 values are the defaults (appendix C), p_mean
// and p_std the second's (package sde's Consistency has the formulas).
type Consistency struct {
	SigmaMin  float64 `mapstructure:"sigma_min" yaml:"sigma_min"`   // eps, the ODE's first time (0.002)
	SigmaMax  float64 `mapstructure:"sigma_max" yaml:"sigma_max"`   // T, the last (80)
	SigmaData float64 `mapstructure:"sigma_data" yaml:"sigma_data"` // the data's standard deviation in the parametrisation (0.5)
	Rho       float64 `mapstructure:"rho" yaml:"rho"`               // the discretisation's spacing (7)
	S0        int     `mapstructure:"s0" yaml:"s0"`                 // N(k)'s first number of points (2)
	S1        int     `mapstructure:"s1" yaml:"s1"`                 // N(K) = s1 + 1 (150)
	Mu0       float64 `mapstructure:"mu0" yaml:"mu0"`               // the target network's EMA decay mu(0) (0.9)
	// TotalSteps is the K of N(k), the steps over which the
	// discretisation grows (the official code's total_training_steps);
	// when not given, train.steps. It is a key of its own so that a run
	// resumed with a longer train.steps keeps its schedule.
	TotalSteps int `mapstructure:"total_steps" yaml:"total_steps"`
	// Improved: improved consistency training (no EMA target, so mu0 is
	// not read; N(k) = min(s0 2^floor(k/K'), s1) + 1; the pair's index
	// from a lognormal of PMean and PStd on the noise level; the loss
	// the pseudo-Huber distance weighted by 1/(t_{n+1} - t_n)). That
	// paper's values: s0 10, s1 1280, p_mean -1.1, p_std 2.
	Improved bool    `mapstructure:"improved" yaml:"improved"`
	PMean    float64 `mapstructure:"p_mean" yaml:"p_mean"`
	PStd     float64 `mapstructure:"p_std" yaml:"p_std"`
}

// VAE is a convolutional variational autoencoder (model.type: vae).
type VAE struct {
	Latent   int     `mapstructure:"latent" yaml:"latent"`       // size of z
	Ch       int     `mapstructure:"ch" yaml:"ch"`               // base width of the encoder and decoder
	Decoder  string  `mapstructure:"decoder" yaml:"decoder"`     // bernoulli (binarised MNIST-like data) or logistic (discretised, 8-bit data)
	Beta     float64 `mapstructure:"beta" yaml:"beta"`           // weight of the KL term (beta-VAE; 1 is the ELBO)
	KLWarmup int     `mapstructure:"kl_warmup" yaml:"kl_warmup"` // steps over which the KL weight rises linearly from 0 to beta
	IWAEK    int     `mapstructure:"iwae_k" yaml:"iwae_k"`       // importance samples of the test-set log-likelihood bound
}

// GAN is a DCGAN-style generator and discriminator (model.type: gan).
type GAN struct {
	Loss     string  `mapstructure:"loss" yaml:"loss"`           // nonsaturating, minimax or wgan-gp
	Latent   int     `mapstructure:"latent" yaml:"latent"`       // size of z
	Ch       int     `mapstructure:"ch" yaml:"ch"`               // base width of both networks
	NCritic  int     `mapstructure:"n_critic" yaml:"n_critic"`   // discriminator updates per generator update
	GPLambda float64 `mapstructure:"gp_lambda" yaml:"gp_lambda"` // weight of WGAN-GP's gradient penalty
	LRD      float64 `mapstructure:"lr_d" yaml:"lr_d"`           // the discriminator's learning rate; 0 takes train.lr
}

// Classifier is a small CNN that labels images (model.type: classifier):
// the judge whose features score other models' samples.
type Classifier struct {
	Ch       int     `mapstructure:"ch" yaml:"ch"`             // width of the first two convolutions; the last two are 2 ch wide
	Features int     `mapstructure:"features" yaml:"features"` // width of the penultimate layer, the judge's features
	Dropout  float64 `mapstructure:"dropout" yaml:"dropout"`   // dropout on the features while training
}

// Data is the training set and how batches are drawn.
type Data struct {
	Name      string `mapstructure:"name" yaml:"name"`
	Dir       string `mapstructure:"dir" yaml:"dir"`
	BatchSize int    `mapstructure:"batch_size" yaml:"batch_size"`
	Flip      bool   `mapstructure:"flip" yaml:"flip"`
}

// Train is the optimisation and its outputs.
type Train struct {
	Steps  int     `mapstructure:"steps" yaml:"steps"`
	LR     float64 `mapstructure:"lr" yaml:"lr"`
	Beta1  float64 `mapstructure:"beta1" yaml:"beta1"` // Adam's
	Beta2  float64 `mapstructure:"beta2" yaml:"beta2"`
	Warmup int     `mapstructure:"warmup" yaml:"warmup"`
	// Cooldown is the last steps of Steps, over which the learning rate
	// falls linearly to 0 (0: constant after the warm-up); a shorter run
	// cools down over all its steps. A run resumed with a longer
	// train.steps moves its cooldown to the new end.
	Cooldown int     `mapstructure:"cooldown" yaml:"cooldown"`
	GradClip float64 `mapstructure:"grad_clip" yaml:"grad_clip"`
	EMA      float64 `mapstructure:"ema" yaml:"ema"`
	// EMARamp is the EMA's warm-up: its decay is min(ema, (1 + n)/(ema_ramp
	// + n)) after n updates (optim.EMADecay), so that it averages about
	// the last 1/(ema_ramp - 1) of a run until ema caps it.
	EMARamp     float64 `mapstructure:"ema_ramp" yaml:"ema_ramp"`
	Seed        uint64  `mapstructure:"seed" yaml:"seed"`
	LogEvery    int     `mapstructure:"log_every" yaml:"log_every"`
	CkptEvery   int     `mapstructure:"ckpt_every" yaml:"ckpt_every"`
	Keep        int     `mapstructure:"keep" yaml:"keep"`
	SampleEvery int     `mapstructure:"sample_every" yaml:"sample_every"`
	// EvalEvery, when not 0, scores EvalN samples of the EMA weights with
	// the judge (Judge: a classifier's run folder; "" for
	// runs/<data.name>_classifier) every this many steps, into the
	// metrics, so that sample quality is seen over training.
	EvalEvery int    `mapstructure:"eval_every" yaml:"eval_every"`
	EvalN     int    `mapstructure:"eval_n" yaml:"eval_n"`
	Judge     string `mapstructure:"judge" yaml:"judge"`
	OutDir    string `mapstructure:"out_dir" yaml:"out_dir"`
}

// Sample is how samples are drawn.
type Sample struct {
	Sampler string  `mapstructure:"sampler" yaml:"sampler"`
	Steps   int     `mapstructure:"steps" yaml:"steps"`
	SNR     float64 `mapstructure:"snr" yaml:"snr"`
	N       int     `mapstructure:"n" yaml:"n"`
	Seed    uint64  `mapstructure:"seed" yaml:"seed"`
	Eps     float64 `mapstructure:"eps" yaml:"eps"` // last t of the sampler
	// RTol and ATol are the ODE sampler's and the likelihood's RK45
	// tolerances.
	RTol float64 `mapstructure:"rtol" yaml:"rtol"`
	ATol float64 `mapstructure:"atol" yaml:"atol"`
	// Eta is DDIM's noise (0: deterministic, 1: DDPM's ancestral step).
	Eta float64 `mapstructure:"eta" yaml:"eta"`
	// LangevinSteps and StepLR are annealed Langevin dynamics' steps per
	// noise level and its step size epsilon (Song and Ermon 2019).
	LangevinSteps int     `mapstructure:"langevin_steps" yaml:"langevin_steps"`
	StepLR        float64 `mapstructure:"step_lr" yaml:"step_lr"`
	// Class is the label of every image of a class-conditional model's
	// run, or -1: image i of N gets class i K / N (a grid of N = 10 K
	// images has a row per class). Guidance is classifier-free guidance's
	// w: the score (1 + w) s(x, t, class) - w s(x, t) (0: none).
	Class    int     `mapstructure:"class" yaml:"class"`
	Guidance float64 `mapstructure:"guidance" yaml:"guidance"`
}

// SDEKeys are the sde.* keys that make a model what it is: the type, the
// discretisation, and the active type's parameters (VE's sigmas, the
// others' betas), so that a parameter of another type, which a config
// may carry unused, does not tell two models apart.
func (c *Config) SDEKeys() []string {
	keys := []string{"sde.type", "sde.n", "sde.eps"}
	if c.SDE.Type == "ve" {
		return append(keys, "sde.sigma_min", "sde.sigma_max")
	}
	return append(keys, "sde.beta_min", "sde.beta_max")
}

// ModelKeys are the keys (and sections, ending in ".") that make a model
// and its training what they are, for refusing a checkpoint resumed under
// another: the families' sections, the data set, SDEKeys, and with
// model.objective consistency its section, whose schedules a run must
// keep.
func (c *Config) ModelKeys() []string {
	keys := append([]string{"model.", "vae.", "gan.", "classifier.", "data.name"}, c.SDEKeys()...)
	if c.Model.Objective == "consistency" {
		keys = append(keys, "consistency.")
	}
	return keys
}

// VESigmaMax is the VE SDE's sigma_max for each data set when sde.sigma_max
// is not given: Technique 1 of Song & Ermon 2020 ("Improved techniques for
// training score-based generative models"), sigma_max as large as the
// largest Euclidean distance between two training images, here in the
// [-1, 1] the network sees, rounded up. score/sigma_test.go derives the
// distances from the data: 33.75 for MNIST and 44.91 for Fashion-MNIST.
// CIFAR-10's is score_sde's 50 for its data in [0, 1] scaled to [-1, 1]
// (CIFAR-10 is not fetched here, so the test cannot derive it). The
// papers' sigma_max = 50 on [-1, 1] data would have been 1.5 times MNIST's
// diameter and half CIFAR-10's.
var VESigmaMax = map[string]float64{"mnist": 34, "fashion": 45, "cifar10": 100}

// FlowSamplers are the samplers of model.objective flow: its ODE by RK45,
// Euler or Heun.
var FlowSamplers = []string{"ode", "ode-euler", "heun"}

// maxConsistencyPoints bounds consistency.s1: a training pair's index is
// a 24-bit uniform, which must split into far fewer than 2^24 points for
// the indices to be near uniform, and on cuda the grids of every size up
// to s1 + 1 go to the device as tables of about s1^2/2 doubles each (67
// MB at this bound). The paper uses s1 = 150 and 200; improved
// consistency training, Song and Dhariwal 2023, up to 1280.
const maxConsistencyPoints = 1 << 12

// ConsistencySampler is the sampler of model.objective consistency, and
// the only one: multistep consistency sampling in sample.steps steps.
const ConsistencySampler = "consistency"

// Samplers are the values of sample.sampler, and the SDEs each is for
// (consistency, for model.objective consistency, is for none).
var Samplers = map[string][]string{
	"em": {"ve", "vp", "subvp"}, "pc": {"ve", "vp", "subvp"},
	"ode": {"ve", "vp", "subvp"}, "ode-euler": {"ve", "vp", "subvp"}, "heun": {"ve", "vp", "subvp"},
	"ancestral": {"ve", "vp", "ddpm"}, "ddim": {"vp", "ddpm"}, "annealed-langevin": {"ve"},
	ConsistencySampler: nil,
}

// Load reads the experiment file at path ("" for the defaults alone; a name
// like "mnist_tiny.yaml" that is not a file is looked up among the
// embedded experiments), then the environment and the --set overrides
// ("train.steps=100"). Each source's values are checked against the types
// of their keys on their own, so that a value of the wrong type is reported
// with its source, even where a later source overrides it.
func Load(path string, sets []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	def, _ := files.ReadFile("default.yaml")
	if err := v.ReadConfig(bytes.NewReader(def)); err != nil {
		return nil, fmt.Errorf("embedded default.yaml: %w", err)
	}
	source := "default.yaml"
	given := map[string]string{} // the keys an experiment sets, and where
	if path != "" {
		source = path
		raw, err := os.ReadFile(path)
		if os.IsNotExist(err) && !strings.Contains(path, "/") {
			raw, err = files.ReadFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		keys, err := checkFile(raw, path)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			given[k] = "config " + path
		}
		if err := v.MergeConfig(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("config %s: not valid YAML: %w", path, err)
		}
	}
	// Bound key by key, not by AutomaticEnv, which misses the keys that
	// default.yaml leaves out (train.ema, sample.eps).
	for _, key := range validKeys {
		_ = v.BindEnv(key, envName(key)) // fails only when given no key
	}
	if err := checkEnv(given); err != nil {
		return nil, err
	}
	for _, s := range sets {
		key, val, ok := strings.Cut(s, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !ok || key == "" {
			return nil, fmt.Errorf("--set %q: want KEY=VALUE, e.g. train.steps=100", s)
		}
		if _, ok := fieldTypes[key]; !ok {
			return nil, fmt.Errorf("--set %s: unknown key (known: %s)", key, strings.Join(validKeys, ", "))
		}
		var parsed any // YAML syntax, so that lists and numbers keep their types
		if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
			return nil, fmt.Errorf("--set %s: value %q is not valid YAML: %w", key, val, err)
		}
		if parsed == nil {
			parsed = ""
		}
		if err := checkType(key, parsed); err != nil {
			return nil, fmt.Errorf("--set %s=%s: %w", key, val, err)
		}
		v.Set(key, parsed)
		given[key] = "--set " + key
	}
	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		// Not expected: every key and value was checked where it came from.
		return nil, fmt.Errorf("config %s with the environment and --set: %w", source, err)
	}
	// A classifier draws no samples: sample_every is 0 unless a source
	// sets it, which Validate then refuses.
	if _, ok := given["train.sample_every"]; !ok && c.Model.Type == "classifier" {
		c.Train.SampleEvery = 0
	}
	if !v.IsSet("sde.sigma_max") && c.SDE.Type == "ve" {
		c.SDE.SigmaMax = VESigmaMax[c.Data.Name]
	}
	if !v.IsSet("consistency.total_steps") && c.Model.Objective == "consistency" {
		c.Consistency.TotalSteps = c.Train.Steps
	}
	if !v.IsSet("sample.steps") {
		// A consistency model's steps are network evaluations, each a
		// whole sample.
		c.Sample.Steps = map[bool]int{true: 1, false: 1000}[c.Model.Objective == "consistency"]
	}
	if !v.IsSet("train.ema") {
		c.Train.EMA = map[bool]float64{true: 0.999, false: 0.9999}[c.SDE.Type == "ve" || c.Model.Type != "unet"]
	}
	// A value equal to the default's (a copy of default.yaml, say) sets
	// nothing.
	defaults := viper.New()
	defaults.SetConfigType("yaml")
	_ = defaults.ReadConfig(bytes.NewReader(def)) // read above
	for key := range given {
		if fmt.Sprint(v.Get(key)) == fmt.Sprint(defaults.Get(key)) {
			delete(given, key)
		}
	}
	if err := checkFamily(c.Model.Type, given); err != nil {
		return nil, err
	}
	if !v.IsSet("sample.eps") {
		c.Sample.Eps = map[bool]float64{true: 1e-5, false: 1e-3}[c.SDE.Type == "ve"]
		if c.SDE.Type == "ddpm" && c.SDE.N > 0 {
			c.Sample.Eps = 1 / float64(c.SDE.N) // the grid's last time is step 1
		}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", source, err)
	}
	return &c, nil
}

// validKeys are the dotted keys of Config, from its mapstructure tags, in
// the order of its fields; fieldTypes maps each to its field's type.
var validKeys, fieldTypes = func() ([]string, map[string]reflect.Type) {
	var keys []string
	types := map[string]reflect.Type{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			k := prefix + f.Tag.Get("mapstructure")
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, k+".")
			} else {
				keys = append(keys, k)
				types[k] = f.Type
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys, types
}()

// checkType reports whether val decodes into the field of key as Load
// decodes the merged settings (weakly typed, so the string "5" is an int),
// and if not, says what the field wants.
func checkType(key string, val any) error {
	v := viper.New()
	v.Set(key, val)
	var c Config
	if v.Unmarshal(&c) != nil {
		return fmt.Errorf("want %s", describe(fieldTypes[key]))
	}
	return nil
}

// describe says in words what values of the type t are.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "an integer"
	case reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list, each " + describe(t.Elem())
	}
	return t.String()
}

// envName is the environment variable that overrides key.
func envName(key string) string {
	return "SCOREGEN_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// checkEnv checks the type of every SCOREGEN_* variable that overrides a
// key, and records it in given. Empty ones are skipped, as viper ignores
// them.
func checkEnv(given map[string]string) error {
	for _, key := range validKeys {
		name := envName(key)
		if val := os.Getenv(name); val != "" {
			if err := checkType(key, val); err != nil {
				return fmt.Errorf("environment variable %s=%s (%s): %w", name, val, key, err)
			}
			given[key] = "environment variable " + name
		}
	}
	return nil
}

// familyKeys are the keys that only one model.type reads; an experiment
// that sets one for another family (to other than its default) mixes
// families, which is an error rather than a setting silently ignored.
var familyKeys = map[string][]string{
	"unet": {"model.objective", "model.num_classes", "model.p_uncond", "sample.class", "sample.guidance", "model.ch", "model.mult", "model.num_res_blocks", "model.attn_res", "model.dropout", "sde.", "consistency.",
		"sample.sampler", "sample.steps", "sample.snr", "sample.eps", "sample.rtol", "sample.atol",
		"sample.eta", "sample.langevin_steps", "sample.step_lr"},
	"vae":        {"vae."},
	"gan":        {"gan."},
	"classifier": {"classifier."},
}

// checkFamily refuses a key given (in given, with where) that belongs to
// a family other than typ.
func checkFamily(typ string, given map[string]string) error {
	for _, key := range slices.Sorted(maps.Keys(given)) {
		for family, prefixes := range familyKeys {
			if family == typ {
				continue
			}
			for _, p := range prefixes {
				if key == p || strings.HasSuffix(p, ".") && strings.HasPrefix(key, p) {
					return fmt.Errorf("%s: %s is a key of model.type %s, and model.type is %s", given[key], key, family, typ)
				}
			}
		}
	}
	return nil
}

// checkFile rejects keys of an experiment file that Config does not have
// (a typo would otherwise be silently ignored) and values of the wrong
// type, and returns the keys it sets.
func checkFile(raw []byte, path string) ([]string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("config %s: not valid YAML: %w", path, err)
	}
	var keys []string
	var walk func(m map[string]any, prefix string) error
	walk = func(m map[string]any, prefix string) error {
		for k, val := range m {
			key := prefix + strings.ToLower(k)
			if sub, ok := val.(map[string]any); ok {
				if err := walk(sub, key+"."); err != nil {
					return err
				}
				continue
			}
			if _, ok := fieldTypes[key]; !ok {
				return fmt.Errorf("config %s: unknown key %s", path, key)
			}
			if err := checkType(key, val); err != nil {
				return fmt.Errorf("config %s: %s = %v: %w", path, key, val, err)
			}
			keys = append(keys, key)
		}
		return nil
	}
	return keys, walk(doc, "")
}

// Validate checks that every value is possible, naming the key.
func (c *Config) Validate() error {
	var errs []string
	bad := func(cond bool, key string, val any, want string) {
		if cond {
			errs = append(errs, fmt.Sprintf("%s = %v: want %s", key, val, want))
		}
	}
	oneOf := func(key, val string, allowed ...string) {
		bad(!slices.Contains(allowed, val), key, fmt.Sprintf("%q", val), "one of "+strings.Join(allowed, ", "))
	}
	oneOf("model.type", c.Model.Type, "unet", "vae", "gan", "classifier")
	bad(c.Model.Ch < 4 || c.Model.Ch%4 != 0, "model.ch", c.Model.Ch, "a positive multiple of 4")
	bad(len(c.Model.Mult) == 0, "model.mult", c.Model.Mult, "at least one level")
	for _, m := range c.Model.Mult {
		bad(m < 1, "model.mult", c.Model.Mult, "positive multipliers")
	}
	bad(c.Model.NumResBlocks < 1, "model.num_res_blocks", c.Model.NumResBlocks, "at least 1")
	bad(c.Model.Dropout < 0 || c.Model.Dropout >= 1, "model.dropout", c.Model.Dropout, "a probability in [0, 1)")
	oneOf("sde.type", c.SDE.Type, "ve", "vp", "subvp", "ddpm")
	bad(c.SDE.Type == "ddpm" && c.SDE.N > 0 && c.Sample.Eps < 1/float64(c.SDE.N), "sample.eps", c.Sample.Eps,
		fmt.Sprintf(">= 1/sde.N = %v for ddpm: the sampler's last time must be a step, not the clean data", 1/float64(max(c.SDE.N, 1))))
	if c.SDE.Type == "ve" {
		bad(!(c.SDE.SigmaMin > 0), "sde.sigma_min", c.SDE.SigmaMin, "> 0")
		bad(!(c.SDE.SigmaMin < c.SDE.SigmaMax), "sde.sigma_max", c.SDE.SigmaMax, fmt.Sprintf("> sde.sigma_min (%v)", c.SDE.SigmaMin))
	} else {
		bad(!(c.SDE.BetaMin > 0), "sde.beta_min", c.SDE.BetaMin, "> 0")
		bad(!(c.SDE.BetaMin < c.SDE.BetaMax), "sde.beta_max", c.SDE.BetaMax, fmt.Sprintf("> sde.beta_min (%v)", c.SDE.BetaMin))
	}
	bad(c.SDE.N < 1, "sde.N", c.SDE.N, "at least 1")
	bad(!(c.SDE.Eps > 0 && c.SDE.Eps < 1), "sde.eps", c.SDE.Eps, "in (0, 1)")
	bad(c.VAE.Latent < 1, "vae.latent", c.VAE.Latent, "at least 1")
	bad(c.VAE.Ch < 1, "vae.ch", c.VAE.Ch, "at least 1")
	oneOf("vae.decoder", c.VAE.Decoder, "bernoulli", "logistic")
	bad(!(c.VAE.Beta >= 0) || math.IsInf(c.VAE.Beta, 0), "vae.beta", c.VAE.Beta, ">= 0")
	bad(c.VAE.KLWarmup < 0, "vae.kl_warmup", c.VAE.KLWarmup, ">= 0 (0 turns it off)")
	bad(c.VAE.IWAEK < 1, "vae.iwae_k", c.VAE.IWAEK, "at least 1")
	oneOf("gan.loss", c.GAN.Loss, "nonsaturating", "minimax", "wgan-gp")
	bad(c.GAN.Latent < 1, "gan.latent", c.GAN.Latent, "at least 1")
	bad(c.GAN.Ch < 1, "gan.ch", c.GAN.Ch, "at least 1")
	bad(c.GAN.NCritic < 1, "gan.n_critic", c.GAN.NCritic, "at least 1")
	bad(!(c.GAN.GPLambda >= 0) || math.IsInf(c.GAN.GPLambda, 0), "gan.gp_lambda", c.GAN.GPLambda, ">= 0")
	bad(!(c.GAN.LRD >= 0) || math.IsInf(c.GAN.LRD, 0), "gan.lr_d", c.GAN.LRD, ">= 0 (0 takes train.lr)")
	bad(c.Classifier.Ch < 1, "classifier.ch", c.Classifier.Ch, "at least 1")
	bad(c.Classifier.Features < 1, "classifier.features", c.Classifier.Features, "at least 1")
	bad(!(c.Classifier.Dropout >= 0 && c.Classifier.Dropout < 1), "classifier.dropout", c.Classifier.Dropout, "a probability in [0, 1)")
	bad(c.Model.Type == "classifier" && c.Train.SampleEvery != 0, "train.sample_every", c.Train.SampleEvery, "0 for model.type classifier, which draws no samples")
	bad(c.Model.Type == "classifier" && c.Train.EvalEvery != 0, "train.eval_every", c.Train.EvalEvery, "0 for model.type classifier, which draws no samples to score")
	oneOf("data.name", c.Data.Name, "mnist", "fashion", "cifar10")
	bad(c.Data.BatchSize < 1, "data.batch_size", c.Data.BatchSize, "at least 1")
	bad(c.Train.Steps < 0, "train.steps", c.Train.Steps, ">= 0")
	bad(!(c.Train.LR > 0) || math.IsInf(c.Train.LR, 0), "train.lr", c.Train.LR, "> 0")
	bad(!(c.Train.Beta1 >= 0 && c.Train.Beta1 < 1), "train.beta1", c.Train.Beta1, "in [0, 1)")
	bad(!(c.Train.Beta2 >= 0 && c.Train.Beta2 < 1), "train.beta2", c.Train.Beta2, "in [0, 1)")
	bad(c.Train.Warmup < 0, "train.warmup", c.Train.Warmup, ">= 0")
	bad(c.Train.Cooldown < 0, "train.cooldown", c.Train.Cooldown, ">= 0 (0 turns it off)")
	bad(!(c.Train.GradClip >= 0), "train.grad_clip", c.Train.GradClip, ">= 0 (0 turns clipping off)")
	bad(!(c.Train.EMA >= 0 && c.Train.EMA < 1), "train.ema", c.Train.EMA, "in [0, 1)")
	bad(!(c.Train.EMARamp >= 1) || math.IsInf(c.Train.EMARamp, 0), "train.ema_ramp", c.Train.EMARamp, ">= 1 (10 is score_sde's warm-up, 1 none)")
	bad(c.Train.LogEvery < 1, "train.log_every", c.Train.LogEvery, "at least 1")
	bad(c.Train.CkptEvery < 1, "train.ckpt_every", c.Train.CkptEvery, "at least 1")
	bad(c.Train.Keep < 1, "train.keep", c.Train.Keep, "at least 1")
	bad(c.Train.SampleEvery < 0, "train.sample_every", c.Train.SampleEvery, ">= 0 (0 turns it off)")
	bad(c.Train.EvalEvery < 0, "train.eval_every", c.Train.EvalEvery, ">= 0 (0 turns it off)")
	bad(c.Train.EvalN < 2, "train.eval_n", c.Train.EvalN, "at least 2 (a Fréchet distance needs a covariance)")
	bad(c.Train.OutDir == "", "train.out_dir", `""`, "a folder")
	oneOf("sample.sampler", c.Sample.Sampler, slices.Sorted(maps.Keys(Samplers))...)
	cc := c.Consistency
	bad(!(cc.SigmaMin > 0) || math.IsInf(cc.SigmaMin, 0), "consistency.sigma_min", cc.SigmaMin, "a finite number > 0")
	bad(!(cc.SigmaMax > cc.SigmaMin) || math.IsInf(cc.SigmaMax, 0), "consistency.sigma_max", cc.SigmaMax, fmt.Sprintf("a finite number > consistency.sigma_min (%v)", cc.SigmaMin))
	bad(!(cc.SigmaData > 0) || math.IsInf(cc.SigmaData, 0), "consistency.sigma_data", cc.SigmaData, "a finite number > 0")
	bad(!(cc.Rho > 0) || math.IsInf(cc.Rho, 0), "consistency.rho", cc.Rho, "a finite number > 0")
	bad(cc.S0 < 2, "consistency.s0", cc.S0, "at least 2 (a pair of times)")
	bad(cc.S1 < cc.S0 || cc.S1 > maxConsistencyPoints, "consistency.s1", cc.S1, fmt.Sprintf(">= consistency.s0 (%d) and at most %d (the grid's points are drawn by 24-bit uniforms)", cc.S0, maxConsistencyPoints))
	bad(!cc.Improved && !(cc.Mu0 > 0 && cc.Mu0 < 1), "consistency.mu0", cc.Mu0, "in (0, 1)")
	bad(math.IsNaN(cc.PMean) || math.IsInf(cc.PMean, 0), "consistency.p_mean", cc.PMean, "a finite number")
	bad(!(cc.PStd > 0) || math.IsInf(cc.PStd, 0), "consistency.p_std", cc.PStd, "a finite number > 0")
	consistency := c.Model.Type == "unet" && c.Model.Objective == "consistency"
	bad(consistency && cc.TotalSteps < 1, "consistency.total_steps", cc.TotalSteps, "at least 1 (when not given, train.steps)")
	bad(consistency && c.Model.NumClasses != 0, "model.num_classes", c.Model.NumClasses, "0 with model.objective consistency (class-conditional consistency training is not built)")
	if consistency != (c.Sample.Sampler == ConsistencySampler) && c.Model.Type == "unet" {
		if consistency {
			errs = append(errs, fmt.Sprintf("sample.sampler = %q: model.objective consistency samples with %s", c.Sample.Sampler, ConsistencySampler))
		} else {
			errs = append(errs, fmt.Sprintf("sample.sampler = %q is for model.objective consistency, not %s", c.Sample.Sampler, c.Model.Objective))
		}
	}
	if c.Model.Type == "unet" {
		oneOf("model.objective", c.Model.Objective, "score", "flow", "consistency")
		bad(c.Model.NumClasses < 0, "model.num_classes", c.Model.NumClasses, "0 (unconditional) or more")
		bad(!(c.Model.PUncond >= 0 && c.Model.PUncond < 1), "model.p_uncond", c.Model.PUncond, "in [0, 1)")
		bad(c.Sample.Class < -1 || c.Sample.Class >= max(c.Model.NumClasses, 0) && c.Sample.Class != -1, "sample.class", c.Sample.Class,
			fmt.Sprintf("-1 (by index) or a class of model.num_classes %d", c.Model.NumClasses))
		bad(!(c.Sample.Guidance >= 0) || math.IsInf(c.Sample.Guidance, 0), "sample.guidance", c.Sample.Guidance, "a finite number >= 0")
		bad(c.Sample.Guidance > 0 && c.Model.NumClasses == 0, "sample.guidance", c.Sample.Guidance, "0 for an unconditional model (model.num_classes 0)")
		bad(c.Sample.Guidance > 0 && c.Model.NumClasses > 0 && c.Model.PUncond == 0, "sample.guidance", c.Sample.Guidance,
			"0 with model.p_uncond 0: the unconditional score is learned from the dropped labels")
	}
	flow := c.Model.Type == "unet" && c.Model.Objective == "flow"
	if flow && !slices.Contains(FlowSamplers, c.Sample.Sampler) && c.Sample.Sampler != ConsistencySampler {
		errs = append(errs, fmt.Sprintf("sample.sampler = %q: model.objective flow samples with %s", c.Sample.Sampler, strings.Join(FlowSamplers, ", ")))
	}
	if sdes, ok := Samplers[c.Sample.Sampler]; ok && c.Model.Type == "unet" && !flow && !consistency && c.Sample.Sampler != ConsistencySampler && !slices.Contains(sdes, c.SDE.Type) {
		errs = append(errs, fmt.Sprintf("sample.sampler = %q is for sde.type %s, not %s", c.Sample.Sampler, strings.Join(sdes, ", "), c.SDE.Type))
	}
	bad(!(c.Sample.Eta >= 0 && c.Sample.Eta <= 1), "sample.eta", c.Sample.Eta, "in [0, 1]")
	bad(c.Sample.LangevinSteps < 1, "sample.langevin_steps", c.Sample.LangevinSteps, "at least 1")
	bad(!(c.Sample.StepLR > 0 && c.Sample.StepLR < 1), "sample.step_lr", c.Sample.StepLR, "in (0, 1)")
	bad(c.Sample.Steps < 1, "sample.steps", c.Sample.Steps, "at least 1")
	bad(!(c.Sample.SNR > 0), "sample.snr", c.Sample.SNR, "> 0")
	bad(c.Sample.N < 1, "sample.n", c.Sample.N, "at least 1")
	bad(!(c.Sample.Eps > 0 && c.Sample.Eps < 1), "sample.eps", c.Sample.Eps, "in (0, 1)")
	bad(!(c.Sample.RTol > 0 && c.Sample.RTol < 1), "sample.rtol", c.Sample.RTol, "in (0, 1)")
	bad(!(c.Sample.ATol > 0 && c.Sample.ATol < 1), "sample.atol", c.Sample.ATol, "in (0, 1)")
	oneOf("device", c.Device, "cpu", "cuda")
	oneOf("precision", c.Precision, "fp32", "bf16")
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// YAML is the config as a YAML document (stored in checkpoints).
func (c *Config) YAML() string {
	out, err := yaml.Marshal(c)
	if err != nil {
		panic(err) // Config holds only plain values
	}
	return string(out)
}

// Parse reads a config written by YAML, checking it as Load does. Keys the
// document lacks (one written before they existed: vae, gan, Adam's betas)
// keep default.yaml's values.
func Parse(doc, source string) (*Config, error) {
	if _, err := checkFile([]byte(doc), source); err != nil {
		return nil, err
	}
	def, _ := files.ReadFile("default.yaml")
	var c Config
	if err := yaml.Unmarshal(def, &c); err != nil {
		return nil, fmt.Errorf("embedded default.yaml: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w", source, err)
	}
	if c.SDE.SigmaMax == 0 && c.SDE.Type == "ve" { // a VE config that leaves sigma_max out
		c.SDE.SigmaMax = VESigmaMax[c.Data.Name]
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", source, err)
	}
	return &c, nil
}

// Differs returns the first key under one of the prefixes ("model.",
// "data.name") whose value differs between c and other, with the two
// values; key is "" when none does.
func (c *Config) Differs(other *Config, prefixes ...string) (key string, have, want any) {
	for _, k := range validKeys {
		for _, p := range prefixes {
			if k != p && !(strings.HasSuffix(p, ".") && strings.HasPrefix(k, p)) {
				continue
			}
			a, b := c.value(k), other.value(k)
			if !reflect.DeepEqual(a, b) {
				return k, a, b
			}
		}
	}
	return "", nil, nil
}

// value is the value of the dotted key.
func (c *Config) value(key string) any {
	v := reflect.ValueOf(c).Elem()
	for _, part := range strings.Split(key, ".") {
		for i := range v.NumField() {
			if v.Type().Field(i).Tag.Get("mapstructure") == part {
				v = v.Field(i)
				break
			}
		}
	}
	return v.Interface()
}
