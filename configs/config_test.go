package configs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEveryExperimentLoads(t *testing.T) {
	entries, _ := files.ReadDir(".")
	for _, e := range entries {
		c, err := Load(e.Name(), nil)
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		// A config survives the trip through a checkpoint's metadata.
		back, err := Parse(c.YAML(), "metadata")
		if err != nil {
			t.Fatalf("%s: reparsing its YAML: %v", e.Name(), err)
		}
		if back.YAML() != c.YAML() {
			t.Errorf("%s: YAML round trip changed the config", e.Name())
		}
	}
}

// The paper's defaults: EMA and the sampler's last t follow the SDE, VE's
// sigma_max the data set.
func TestDefaultsFollowTheSDE(t *testing.T) {
	ve, err := Load("mnist_ve.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	vp, err := Load("mnist_vp.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ve.Train.EMA != 0.999 || ve.Sample.Eps != 1e-5 || vp.Train.EMA != 0.9999 || vp.Sample.Eps != 1e-3 {
		t.Fatalf("VE ema %v eps %v, VP ema %v eps %v", ve.Train.EMA, ve.Sample.Eps, vp.Train.EMA, vp.Sample.Eps)
	}
	if vp.SDE.BetaMin != 0.1 || vp.SDE.BetaMax != 20 || ve.SDE.SigmaMin != 0.01 || ve.SDE.SigmaMax != VESigmaMax["mnist"] ||
		vp.SDE.N != 1000 || vp.SDE.Eps != 1e-5 || vp.Train.LR != 2e-4 || vp.Train.Warmup != 5000 || vp.Train.GradClip != 1 {
		t.Fatalf("defaults differ from the paper's: %+v %+v", vp.SDE, vp.Train)
	}
	tiny, err := Load("mnist_tiny.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tiny.Train.EMA != 0.9995 {
		t.Fatalf("mnist_tiny sets ema 0.9995, got %v", tiny.Train.EMA)
	}
	if c, err := Load("", []string{"sde.type=ddpm", "sde.N=500", "sample.sampler=ancestral"}); err != nil || c.Sample.Eps != 1.0/500 {
		t.Errorf("ddpm's sample.eps: %v, %v; want 1/N, the grid's last time at step 1", c, err)
	}
	// VE's sigma_max follows the data set unless given.
	for name, want := range map[string]float64{"mnist": 34, "fashion": 45, "cifar10": 100} {
		c, err := Load("", []string{"sde.type=ve", "data.name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		if c.SDE.SigmaMax != want {
			t.Errorf("%s: sigma_max %v, want %v", name, c.SDE.SigmaMax, want)
		}
	}
	if c, err := Load("", []string{"sde.type=ve", "sde.sigma_max=50"}); err != nil || c.SDE.SigmaMax != 50 {
		t.Errorf("sde.sigma_max=50 given: %v, %v", c, err)
	}
}

// ddpm runs on cuda with both its samplers: the noising kernel has DDPM's
// discrete kind, and ancestral and ddim run the network on the device and
// their steps on the host.
func TestDDPMOnCUDA(t *testing.T) {
	for _, sampler := range []string{"ancestral", "ddim"} {
		if _, err := Load("", []string{"sde.type=ddpm", "sample.sampler=" + sampler, "device=cuda"}); err != nil {
			t.Errorf("ddpm sampled by %s on cuda: %v", sampler, err)
		}
	}
}

func TestOverridesTakePrecedence(t *testing.T) {
	t.Setenv("SCOREGEN_TRAIN_STEPS", "77")
	t.Setenv("SCOREGEN_TRAIN_LR", "0.5")
	c, err := Load("mnist_tiny.yaml", []string{"train.lr=0.25", "model.mult=[1, 2, 3]", "train.out_dir=/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.Steps != 77 || c.Train.LR != 0.25 || len(c.Model.Mult) != 3 || c.Train.OutDir != "/tmp/x" {
		t.Fatalf("steps %v lr %v mult %v out %v", c.Train.Steps, c.Train.LR, c.Model.Mult, c.Train.OutDir)
	}
}

// train.ema and sample.eps are not in default.yaml, yet the environment
// overrides them as it does every other key.
func TestEnvironmentSetsKeysWithoutDefaults(t *testing.T) {
	t.Setenv("SCOREGEN_TRAIN_EMA", "0.5")
	t.Setenv("SCOREGEN_SAMPLE_EPS", "0.01")
	c, err := Load("mnist_vp.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.EMA != 0.5 || c.Sample.Eps != 0.01 {
		t.Fatalf("ema %v, sample eps %v: expected 0.5 and 0.01 from the environment", c.Train.EMA, c.Sample.Eps)
	}
}

func TestBadInputNamesFileKeyAndExpectation(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		path string
		sets []string
		want []string
	}{
		{write("typo.yaml", "train:\n  stepz: 5\n"), nil, []string{"typo.yaml", "unknown key train.stepz"}},
		{write("lr.yaml", "train:\n  lr: -1\n"), nil, []string{"lr.yaml", "train.lr = -1", "> 0"}},
		{write("sigma.yaml", "sde:\n  type: ve\n  sigma_min: 60\n"), nil, []string{"sigma.yaml", "sde.sigma_max", "> sde.sigma_min"}},
		{write("yaml.yaml", "train: [\n"), nil, []string{"yaml.yaml", "YAML"}},
		{filepath.Join(dir, "missing.yaml"), nil, []string{"missing.yaml"}},
		{"", []string{"train.bogus=1"}, []string{"train.bogus", "unknown key"}},
		{"", []string{"train.steps"}, []string{"KEY=VALUE"}},
		{"", []string{"sde.type=vq"}, []string{"sde.type", `"vq"`, "ve, vp, subvp"}},
		{"", []string{"data.batch_size=0"}, []string{"data.batch_size = 0", "at least 1"}},
		{"", []string{"train.cooldown=-1"}, []string{"train.cooldown = -1", ">= 0"}},
		{"", []string{"train.ema_ramp=0.5"}, []string{"train.ema_ramp = 0.5", ">= 1"}},
		{"", []string{"precision=fp16"}, []string{"precision", `"fp16"`, "fp32, bf16"}},
		{"", []string{"sample.sampler=rk4"}, []string{"sample.sampler", `"rk4"`, "ancestral", "ode-euler"}},
		{"", []string{"sde.type=ve", "sample.sampler=ddim"}, []string{`sample.sampler = "ddim"`, "sde.type vp, ddpm, not ve"}},
		{"", []string{"sample.sampler=annealed-langevin"}, []string{`sample.sampler = "annealed-langevin"`, "sde.type ve, not vp"}},
		{"", []string{"sde.type=subvp", "sample.sampler=ancestral"}, []string{`"ancestral"`, "ve, vp, ddpm, not subvp"}},
		{"", []string{"sample.eta=2"}, []string{"sample.eta = 2", "in [0, 1]"}},
		{"", []string{"sample.rtol=0"}, []string{"sample.rtol = 0", "in (0, 1)"}},
		{"", []string{"sde.type=ddpm"}, []string{`sample.sampler = "em"`, "ve, vp, subvp, not ddpm"}},
		{"", []string{"sde.type=ddpm", "sample.sampler=ancestral", "sample.eps=1e-4"}, []string{"sample.eps = 0.0001", ">= 1/sde.N = 0.001"}},
		{"", []string{"model.num_classes=10", "model.p_uncond=0", "sample.guidance=1"}, []string{"sample.guidance = 1", "model.p_uncond 0"}},
		{"", []string{"sample.guidance=2"}, []string{"sample.guidance = 2", "0 for an unconditional model"}},
		{"", []string{"model.num_classes=10", "sample.class=10"}, []string{"sample.class = 10", "model.num_classes 10"}},
		{"", []string{"model.num_classes=10", "model.p_uncond=1"}, []string{"model.p_uncond = 1", "[0, 1)"}},
		{"", []string{"model.objective=ddpm"}, []string{"model.objective", `"ddpm"`, "score, flow, consistency"}},
		{"", []string{"model.objective=flow"}, []string{`sample.sampler = "em"`, "flow samples with ode, ode-euler, heun"}},
		{"", []string{"model.objective=consistency"}, []string{`sample.sampler = "em"`, "model.objective consistency samples with consistency"}},
		{"", []string{"sample.sampler=consistency"}, []string{`sample.sampler = "consistency"`, "for model.objective consistency, not score"}},
		{"", []string{"model.objective=flow", "sample.sampler=consistency"}, []string{`sample.sampler = "consistency"`, "not flow"}},
		{"", []string{"model.objective=consistency", "sample.sampler=consistency", "model.num_classes=10"}, []string{"model.num_classes = 10", "0 with model.objective consistency"}},
		{"", []string{"model.objective=consistency", "sample.sampler=consistency", "train.steps=0"}, []string{"consistency.total_steps = 0", "when not given, train.steps"}},
		{"", []string{"consistency.s0=1"}, []string{"consistency.s0 = 1", "at least 2"}},
		{"", []string{"consistency.s1=1"}, []string{"consistency.s1 = 1", ">= consistency.s0 (2)"}},
		{"", []string{"consistency.mu0=1"}, []string{"consistency.mu0 = 1", "in (0, 1)"}},
		{"", []string{"consistency.s1=4097", "model.objective=consistency", "sample.sampler=consistency"}, []string{"consistency.s1 = 4097", "at most 4096"}},
		{"", []string{"consistency.improved=true", "consistency.p_std=0"}, []string{"consistency.p_std = 0", "> 0"}},
		{"", []string{"consistency.p_mean=.inf"}, []string{"consistency.p_mean = +Inf", "a finite number"}},
		{"", []string{"consistency.sigma_min=0"}, []string{"consistency.sigma_min = 0", "> 0"}},
		{"", []string{"consistency.sigma_max=0.001"}, []string{"consistency.sigma_max = 0.001", "> consistency.sigma_min (0.002)"}},
		{"", []string{"consistency.sigma_data=-1"}, []string{"consistency.sigma_data = -1", "> 0"}},
		{"", []string{"consistency.rho=0"}, []string{"consistency.rho = 0", "> 0"}},
		{"", []string{"consistency.total_steps=-5", "model.objective=consistency", "sample.sampler=consistency"}, []string{"consistency.total_steps = -5", "at least 1"}},
		{"", []string{"consistency.s1=100000000", "model.objective=consistency", "sample.sampler=consistency"}, []string{"consistency.s1 = 100000000", "at most 4096"}},
		{"", []string{"consistency.s00=3"}, []string{"consistency.s00", "unknown key"}},
	} {
		_, err := Load(c.path, c.sets)
		if err == nil {
			t.Errorf("%s %v: loaded", c.path, c.sets)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: error %q does not say %q", c.path, c.sets, err, w)
			}
		}
	}
}

// A value of the wrong type is reported with where it came from (the file,
// the environment variable or the --set flag) and the type its key wants.
func TestWrongTypeNamesItsOrigin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "type.yaml")
	if err := os.WriteFile(file, []byte("train:\n  steps: many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		env  string // SCOREGEN_TRAIN_STEPS, unless empty
		sets []string
		want string
	}{
		{file, "", nil, "config " + file + ": train.steps = many: want an integer"},
		{"mnist_tiny.yaml", "abc", nil, "environment variable SCOREGEN_TRAIN_STEPS=abc (train.steps): want an integer"},
		{"mnist_tiny.yaml", "", []string{"train.steps=abc"}, "--set train.steps=abc: want an integer"},
		{"", "", []string{"data.flip=maybe"}, "--set data.flip=maybe: want true or false"},
		{"", "", []string{"model.mult=[1, x]"}, "--set model.mult=[1, x]: want a list, each an integer"},
	} {
		t.Setenv("SCOREGEN_TRAIN_STEPS", c.env)
		_, err := Load(c.path, c.sets)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s, SCOREGEN_TRAIN_STEPS=%q, --set %v: error %v, want %q", c.path, c.env, c.sets, err, c.want)
		}
	}
}

// A key of one family on another is an error naming the key, where it
// came from, and the family it belongs to; unknown model types are named.
func TestMixedFamiliesAreRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vae_with_gan.yaml")
	if err := os.WriteFile(path, []byte("model:\n  type: vae\ngan:\n  n_critic: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		sets []string
		want []string
	}{
		{path, nil, []string{"config " + path, "gan.n_critic is a key of model.type gan", "model.type is vae"}},
		{"", []string{"model.type=gan", "sde.type=ve"}, []string{"--set sde.type", "sde.type is a key of model.type unet", "model.type is gan"}},
		{"", []string{"model.type=unet", "vae.latent=8"}, []string{"--set vae.latent", "model.type vae"}},
		{"", []string{"model.type=flow"}, []string{"model.type", `"flow"`, "unet, vae, gan, classifier"}},
		{"", []string{"model.type=vae", "classifier.features=64"}, []string{"--set classifier.features", "classifier.features is a key of model.type classifier", "model.type is vae"}},
		{"", []string{"model.type=classifier", "gan.ch=8"}, []string{"--set gan.ch", "gan.ch is a key of model.type gan", "model.type is classifier"}},
		{"", []string{"model.type=classifier", "model.dropout=0.3"}, []string{"--set model.dropout", "model.dropout is a key of model.type unet", "model.type is classifier"}},
		{"", []string{"model.type=vae", "consistency.s1=20"}, []string{"--set consistency.s1", "consistency.s1 is a key of model.type unet", "model.type is vae"}},
	} {
		_, err := Load(c.path, c.sets)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: err = %v, want it to say %q", c.path, c.sets, err, w)
			}
		}
	}
	t.Setenv("SCOREGEN_GAN_LOSS", "minimax")
	if _, err := Load("", []string{"model.type=vae"}); err == nil || !strings.Contains(err.Error(), "SCOREGEN_GAN_LOSS") {
		t.Errorf("a gan key from the environment on a vae: err = %v", err)
	}
	if c, err := Load("", []string{"model.type=gan", "gan.loss=wgan-gp"}); err != nil || c.Train.EMA != 0.999 {
		t.Errorf("a gan config: %v, train.ema %v (want 0.999 when not given)", err, c.Train.EMA)
	}
}

func TestDiffersNamesTheKey(t *testing.T) {
	a, err := Load("", []string{"model.type=vae", "vae.latent=16"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("", []string{"model.type=vae"})
	if err != nil {
		t.Fatal(err)
	}
	if key, have, want := a.Differs(b, "model.", "vae."); key != "vae.latent" || have != 16 || want != 32 {
		t.Fatalf("Differs = %q, %v, %v; want vae.latent, 16, 32", key, have, want)
	}
	if key, _, _ := a.Differs(a, "model.", "vae.", "data.name"); key != "" {
		t.Fatalf("a config differs from itself at %q", key)
	}
}

// A classifier draws no samples: train.sample_every is 0 unless given,
// and given (even as default.yaml's value) it is refused naming the key.
func TestClassifierSamplesNothing(t *testing.T) {
	c, err := Load("", []string{"model.type=classifier"})
	if err != nil || c.Train.SampleEvery != 0 {
		t.Fatalf("a classifier config: %v, train.sample_every %v; want 0", err, c.Train.SampleEvery)
	}
	for _, v := range []string{"5000", "100"} {
		_, err := Load("", []string{"model.type=classifier", "train.sample_every=" + v})
		if err == nil || !strings.Contains(err.Error(), "train.sample_every = "+v) || !strings.Contains(err.Error(), "0 for model.type classifier") {
			t.Errorf("train.sample_every=%s on a classifier: err = %v", v, err)
		}
	}
	if c, err := Load("", []string{"model.type=vae"}); err != nil || c.Train.SampleEvery != 5000 {
		t.Errorf("a vae config: %v, train.sample_every %v; want default.yaml's 5000", err, c.Train.SampleEvery)
	}
}

// Scoring over training is off by default; a classifier, which draws
// nothing to score, refuses it in one line naming the key, and so does an
// eval_n too small for a covariance.
func TestEvalKeys(t *testing.T) {
	c, err := Load("", nil)
	if err != nil || c.Train.EvalEvery != 0 || c.Train.EvalN != 1000 || c.Train.Judge != "" {
		t.Fatalf("defaults: %v, eval_every %d, eval_n %d, judge %q; want 0, 1000, \"\"", err, c.Train.EvalEvery, c.Train.EvalN, c.Train.Judge)
	}
	if c, err := Load("mnist_vae.yaml", []string{"train.eval_every=500", "train.judge=runs/j"}); err != nil || c.Train.EvalEvery != 500 || c.Train.Judge != "runs/j" {
		t.Fatalf("a vae with eval_every 500: %v, %+v", err, c.Train)
	}
	for sets, want := range map[string]string{
		"model.type=classifier,train.eval_every=100": "train.eval_every = 100: want 0 for model.type classifier",
		"train.eval_every=-1":                        "train.eval_every = -1: want >= 0",
		"train.eval_n=1":                             "train.eval_n = 1: want at least 2",
	} {
		_, err := Load("", strings.Split(sets, ","))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line saying %q", sets, err, want)
		}
	}
}

// A checkpoint's config from before VE's sigma_max followed the data
// (sigma_max 50 stored for every SDE) is the same model as today's config
// for every SDE but VE, whose sigma_max did change.
func TestSDEKeysIgnoreInactiveParameters(t *testing.T) {
	for _, typ := range []string{"vp", "subvp", "ve"} {
		now, err := Load("mnist_tiny.yaml", []string{"sde.type=" + typ})
		if err != nil {
			t.Fatal(err)
		}
		old := *now
		old.SDE.SigmaMax = 50
		key, _, _ := old.Differs(now, now.SDEKeys()...)
		if want := map[string]string{"vp": "", "subvp": "", "ve": "sde.sigma_max"}[typ]; key != want {
			t.Errorf("%s: differs at %q, want %q", typ, key, want)
		}
		old.SDE.N = 10
		if key, _, _ := old.Differs(now, now.SDEKeys()...); key == "" {
			t.Errorf("%s: a different sde.N passes", typ)
		}
	}
}

// consistency.total_steps is train.steps when not given, and what a config
// gives otherwise; with model.objective consistency its section is one of
// the keys that make the model (ModelKeys), and sample.steps defaults to 1.
func TestConsistencyTotalSteps(t *testing.T) {
	sets := []string{"model.objective=consistency", "sample.sampler=consistency", "sample.steps=2", "train.steps=700"}
	c, err := Load("", sets)
	if err != nil {
		t.Fatal(err)
	}
	if c.Consistency.TotalSteps != 700 || c.Consistency.S1 != 150 || c.Consistency.Mu0 != 0.9 {
		t.Errorf("consistency section %+v: want total_steps 700 (train.steps) and the paper's s1 150, mu0 0.9", c.Consistency)
	}
	if !slices.Contains(c.ModelKeys(), "consistency.") {
		t.Errorf("ModelKeys %v lack the consistency section", c.ModelKeys())
	}
	c, err = Load("", append(sets, "consistency.total_steps=350"))
	if err != nil || c.Consistency.TotalSteps != 350 {
		t.Errorf("consistency.total_steps=350: %v, %+v", err, c.Consistency)
	}
	if c, err := Load("", nil); err != nil || slices.Contains(c.ModelKeys(), "consistency.") {
		t.Errorf("a score model's ModelKeys: %v, %v", c.ModelKeys(), err)
	}
	// sample.steps is 1 when not given (one network evaluation), and what
	// a config gives otherwise; the score samplers keep their 1000.
	if c, err := Load("", sets[:2]); err != nil || c.Sample.Steps != 1 {
		t.Errorf("a consistency model's default sample.steps: %v, %v", c.Sample.Steps, err)
	}
	if c.Sample.Steps != 2 {
		t.Errorf("sample.steps=2 gave %d", c.Sample.Steps)
	}
	if c, err := Load("", nil); err != nil || c.Sample.Steps != 1000 {
		t.Errorf("a score model's default sample.steps: %v, %v", c.Sample.Steps, err)
	}
}
