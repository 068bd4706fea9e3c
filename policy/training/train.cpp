#include "policy/training/train.hpp"

#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <random>

#include "policy/gpt2.hpp"
#include "policy/training/distributed.hpp"
#include "policy/training/torch_model.hpp"

// OpenBLAS, where it is the BLAS libtorch calls (Debian's libopenblas0
// through the libblas.so.3 alternative), runs its own threads beside torch's;
// two pools of spinning threads on two cores cost more than they give on
// these small products. Weak: absent with the reference BLAS.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace dualpilot::policy {

namespace {

struct Episode {
	size_t begin, end; // entries [begin, end) of the merged pool
	size_t index = 0;  // among the training episodes, before short ones are left out: its shard is index mod N
};

// The merged pools in the model's features, split before anything is
// learnt from them.
struct Dataset {
	uint32_t features = 0;          // F: the model's
	uint32_t action_count = kVerdictActions; // K: the pools' and the model's
	std::vector<float> states;      // entries x F
	std::vector<uint8_t> actions;   // each entry's, read as action_index(a, action_count)
	std::vector<float> rtg;
	std::vector<Episode> train, val;
	std::vector<float> weight;      // awr: each entry's loss weight (empty: all 1)
	// Every pool's rewards are the objective's (sim/objective.hpp): the
	// model then computes them so at run time (reward_offset_us 0).
	bool objective_reward = false;
};

struct Normalisation {
	std::vector<float> mean, std; // per model feature
	float rtg_scale = 1;
	std::vector<uint64_t> class_count; // per action
};

struct Batch {
	torch::Tensor returns, states, actions;
	torch::Tensor hidden;      // temporal dropout's hidden steps, or undefined
	torch::Tensor first_slots; // ring-position models: each window's oldest ring slot
	torch::Tensor scored;      // validation: [B][w] true at the positions scored
	torch::Tensor sample_weights; // awr: [B][w] each position's loss weight, or undefined
};

// The pools of one or more lists, in order, as merge_pools reads them.
std::vector<const experience::Pool *> in_order(std::initializer_list<const std::vector<experience::Pool> *> lists)
{
	std::vector<const experience::Pool *> out;
	for (const std::vector<experience::Pool> *list : lists)
		if (list)
			for (const experience::Pool &p : *list)
				out.push_back(&p);
	return out;
}

// Appends the pools (each pool's end ends an episode; their action counts
// must agree) and keeps the features every pool recorded, named in
// `features`; or, when `features` comes filled (a trained model's), exactly
// those, an error if a pool lacks one.
std::string merge_pools(const std::vector<const experience::Pool *> &pools, double gamma, Dataset &d,
			std::vector<Episode> &episodes, std::vector<std::string> &features)
{
	experience::Pool all;
	d.objective_reward = !pools.empty();
	for (const experience::Pool *p : pools)
		d.objective_reward = d.objective_reward && p->reward_definition.starts_with("objective:");
	for (const experience::Pool *p : pools) {
		if (p->size() == 0)
			continue;
		if (std::string err = all.append(*p); !err.empty())
			return err;
		all.dones.back() = 1;
	}
	if (all.size() == 0)
		return "the pools hold no entries";
	std::vector<uint32_t> columns;
	const bool given = !features.empty();
	for (int k = 0; k < all.feature_count(); k++) {
		const std::string name = all.feature_name(k);
		const bool wanted = !given || std::find(features.begin(), features.end(), name) != features.end();
		if (given && wanted && !all.has_feature(k))
			return "the pools do not record " + name + ", one of the model's features";
		if (wanted && all.has_feature(k)) {
			columns.push_back(static_cast<uint32_t>(k));
			if (!given)
				features.push_back(name);
		}
	}
	const size_t n = all.size();
	d.features = static_cast<uint32_t>(columns.size());
	d.states.resize(n * d.features);
	for (size_t i = 0; i < n; i++)
		for (uint32_t f = 0; f < d.features; f++)
			d.states[i * d.features + f] = all.states[i * static_cast<size_t>(all.feature_count()) + columns[f]];
	d.action_count = all.action_count;
	d.actions.resize(n);
	for (size_t i = 0; i < n; i++)
		d.actions[i] = static_cast<uint8_t>(action_index(all.actions[i], d.action_count));
	d.rtg = returns_to_go(all.rewards, all.dones, gamma);
	episodes.clear();
	for (size_t i = 0, begin = 0; i < n; i++)
		if (all.dones[i]) {
			episodes.push_back({begin, i + 1});
			begin = i + 1;
		}
	return {};
}

// The last val_fraction of the episodes validate (with a single episode, its
// last val_fraction of steps: never sampled for training). Episodes shorter
// than the window are left out and counted.
std::string split_episodes(Dataset &d, const std::vector<Episode> &episodes, size_t presplit_val, const TrainOptions &opt,
			   uint32_t w, TrainReport &report)
{
	if (presplit_val != SIZE_MAX) {
		// The caller split them (data-parallel: this rank's training shard, then
		// the validation episodes, rank 0's only).
		d.train.assign(episodes.begin(), episodes.end() - static_cast<long>(presplit_val));
		d.val.assign(episodes.end() - static_cast<long>(presplit_val), episodes.end());
	} else if (episodes.size() == 1) {
		const Episode e = episodes[0];
		const size_t cut = e.begin + static_cast<size_t>(static_cast<double>(e.end - e.begin) * (1 - opt.val_fraction));
		d.train.push_back({e.begin, cut});
		d.val.push_back({cut, e.end});
	} else {
		const auto n_val = std::max<size_t>(1, static_cast<size_t>(std::ceil(episodes.size() * opt.val_fraction)));
		d.train.assign(episodes.begin(), episodes.end() - static_cast<long>(n_val));
		d.val.assign(episodes.end() - static_cast<long>(n_val), episodes.end());
	}
	for (size_t i = 0; i < d.train.size(); i++)
		d.train[i].index = i;
	auto keep_long = [&](std::vector<Episode> &v, uint64_t &steps) {
		std::vector<Episode> kept;
		for (const Episode &e : v) {
			if (e.end - e.begin >= w) {
				kept.push_back(e);
				steps += e.end - e.begin;
			} else {
				report.skipped_episodes++;
			}
		}
		v = kept;
	};
	keep_long(d.train, report.train_steps_in_pool);
	keep_long(d.val, report.val_steps_in_pool);
	report.train_episodes = d.train.size();
	report.val_episodes = d.val.size();
	if (d.train.empty() || (d.val.empty() && (presplit_val == SIZE_MAX || (opt.dp && opt.dp->rank() == 0))))
		return fmt::format("not enough data: {} training and {} validation episodes of at least {} steps (the "
				   "window)",
				   d.train.size(), d.val.size(), w);
	return {};
}

// Feature means and deviations, the return scale and the action counts, from
// the training split only: with data-parallel training, over every rank's
// shard (sums and counts all-reduced, the return scale the maximum).
std::string fit_normalisation(const Dataset &d, DataParallel *dp, Normalisation &norm)
{
	const uint32_t F = d.features, K = d.action_count;
	// Per feature the sum and the sum of squares, then the K action counts.
	std::vector<double> sums(2 * F + K, 0.0), max_rtg{0.0};
	for (const Episode &e : d.train)
		for (size_t i = e.begin; i < e.end; i++) {
			for (uint32_t f = 0; f < F; f++) {
				const double v = d.states[i * F + f];
				sums[f] += v;
				sums[F + f] += v * v;
			}
			max_rtg[0] = std::max(max_rtg[0], std::fabs(static_cast<double>(d.rtg[i])));
			sums[2 * F + d.actions[i]] += 1;
		}
	if (dp) {
		if (std::string err = dp->sum(sums); !err.empty())
			return err;
		if (std::string err = dp->max(max_rtg); !err.empty())
			return err;
	}
	const double *sum = sums.data(), *sq = sums.data() + F;
	double n = 0;
	norm.class_count.assign(K, 0);
	for (size_t a = 0; a < K; a++) {
		norm.class_count[a] = static_cast<uint64_t>(sums[2 * F + a]);
		n += sums[2 * F + a];
	}
	const double max_rtg_all = max_rtg[0];
	norm.rtg_scale = static_cast<float>(max_rtg_all > 1e-6 ? max_rtg_all : 1.0);
	norm.mean.resize(F);
	norm.std.resize(F);
	for (uint32_t f = 0; f < F; f++) {
		const double mean = sum[f] / static_cast<double>(n);
		const double var = std::max(0.0, sq[f] / static_cast<double>(n) - mean * mean);
		norm.mean[f] = static_cast<float>(mean);
		norm.std[f] = static_cast<float>(std::sqrt(var) > 1e-6 ? std::sqrt(var) : 1.0);
	}
	return {};
}

// The loss's weight per true action (TrainOptions::class_weights_auto), one
// per count. Error text (weights given for another number of actions) or
// empty.
std::string loss_weights(const TrainOptions &opt, const std::vector<uint64_t> &count, std::vector<double> &w,
			 bool &weighted)
{
	const size_t K = count.size();
	w.assign(K, 1.0);
	if (!opt.class_weights_auto) {
		if (opt.class_weights.empty()) {
			weighted = false;
			return {};
		}
		if (opt.class_weights.size() != K)
			return fmt::format("{} class weights given, the pools have {} actions", opt.class_weights.size(), K);
		w = opt.class_weights;
		weighted = w != std::vector<double>(K, 1.0);
		return {};
	}
	uint64_t total = 0, most = 0, fewest = UINT64_MAX;
	for (uint64_t c : count)
		if (c) {
			total += c;
			most = std::max(most, c);
			fewest = std::min(fewest, c);
		}
	weighted = total && 3 * fewest < most; // the rarest under a third as common as the commonest
	if (weighted)
		for (size_t a = 0; a < K; a++)
			w[a] = count[a] ? static_cast<double>(total) / (static_cast<double>(K) * static_cast<double>(count[a]))
					: 1.0;
	return {};
}

// The window of w steps of episode e from its step `start`.
void fill_window(const Dataset &d, const Episode &e, size_t start, uint32_t w, float *r, float *s, int64_t *a,
		 float *weight = nullptr)
{
	const uint32_t F = d.features;
	for (uint32_t t = 0; t < w; t++) {
		const size_t i = e.begin + start + t;
		r[t] = d.rtg[i];
		std::copy_n(&d.states[i * F], F, s + t * F);
		a[t] = d.actions[i];
		if (weight)
			weight[t] = d.weight[i];
	}
}

// Solves the F+1 normal equations in place (Gaussian elimination with
// partial pivoting; the ridge keeps the matrix well conditioned).
std::vector<double> solve(std::vector<double> m, std::vector<double> y, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		size_t p = c;
		for (size_t r = c + 1; r < n; r++)
			if (std::fabs(m[r * n + c]) > std::fabs(m[p * n + c]))
				p = r;
		for (size_t k = 0; k < n; k++)
			std::swap(m[c * n + k], m[p * n + k]);
		std::swap(y[c], y[p]);
		for (size_t r = c + 1; r < n; r++) {
			const double f = m[r * n + c] / m[c * n + c];
			for (size_t k = c; k < n; k++)
				m[r * n + k] -= f * m[c * n + k];
			y[r] -= f * y[c];
		}
	}
	std::vector<double> x(n);
	for (size_t c = n; c-- > 0;) {
		double s = y[c];
		for (size_t k = c + 1; k < n; k++)
			s -= m[c * n + k] * x[k];
		x[c] = s / m[c * n + c];
	}
	return x;
}

// TrainOptions::Method awr: the value V(s) = theta . [1, normalised s] by
// ridge regression on the training split's entries, then each entry's
// weight min(exp((R - V) / beta), cap), scaled to mean 1 over the split.
std::string fit_advantage_weights(Dataset &d, const Normalisation &norm, const TrainOptions &opt, TrainReport &report)
{
	if (opt.dp || opt.emulate_ranks > 1)
		return "--method awr runs in one process (the value regression is not all-reduced)";
	const size_t F = d.features, n = F + 1;
	std::vector<double> xtx(n * n, 0), xty(n, 0), x(n);
	double count = 0, y_sum = 0, y_sq = 0;
	auto features = [&](size_t i) {
		x[0] = 1;
		for (size_t f = 0; f < F; f++)
			x[f + 1] = (d.states[i * F + f] - norm.mean[f]) / norm.std[f];
	};
	for (const Episode &e : d.train)
		for (size_t i = e.begin; i < e.end; i++) {
			features(i);
			const double y = d.rtg[i];
			for (size_t a = 0; a < n; a++) {
				xty[a] += x[a] * y;
				for (size_t b = 0; b < n; b++)
					xtx[a * n + b] += x[a] * x[b];
			}
			count++;
			y_sum += y;
			y_sq += y * y;
		}
	if (count < 2)
		return "--method awr: too few training decisions for a value";
	for (size_t a = 1; a < n; a++)
		xtx[a * n + a] += opt.value_ridge * count;
	const std::vector<double> theta = solve(xtx, xty, n);
	std::vector<double> adv(d.rtg.size(), 0);
	double a_sum = 0, a_sq = 0;
	for (const Episode &e : d.train)
		for (size_t i = e.begin; i < e.end; i++) {
			features(i);
			double v = 0;
			for (size_t a = 0; a < n; a++)
				v += theta[a] * x[a];
			adv[i] = d.rtg[i] - v;
			a_sum += adv[i];
			a_sq += adv[i] * adv[i];
		}
	const double y_var = y_sq / count - (y_sum / count) * (y_sum / count);
	const double a_var = std::max(0.0, a_sq / count - (a_sum / count) * (a_sum / count));
	report.value_r2 = y_var > 0 ? 1 - (a_sq / count) / y_var : 0;
	const double beta = opt.awr_beta * std::max(std::sqrt(a_var), 1e-12);
	d.weight.assign(d.rtg.size(), 1.0f);
	double w_sum = 0;
	for (const Episode &e : d.train)
		for (size_t i = e.begin; i < e.end; i++) {
			d.weight[i] = static_cast<float>(std::min(std::exp(adv[i] / beta), opt.awr_max_weight));
			w_sum += d.weight[i];
		}
	const float scale = static_cast<float>(count / w_sum);
	report.awr_weight_max = 0;
	for (const Episode &e : d.train)
		for (size_t i = e.begin; i < e.end; i++) {
			d.weight[i] *= scale;
			report.awr_weight_max = std::max<double>(report.awr_weight_max, d.weight[i]);
		}
	return {};
}

Batch empty_batch(size_t count, uint32_t w, uint32_t F)
{
	Batch b;
	b.returns = torch::empty({static_cast<int64_t>(count), w});
	b.states = torch::empty({static_cast<int64_t>(count), w, F});
	b.actions = torch::empty({static_cast<int64_t>(count), w}, torch::kLong);
	return b;
}

// Draws training windows, every step of the split equally likely, with the
// augmentations of TrainOptions.
class WindowSampler {
    public:
	// Draws from `episodes` (the training split, or one shard of it) with
	// its own random stream.
	WindowSampler(const Dataset &d, std::vector<Episode> episodes, uint64_t seed, const TrainOptions &opt,
		      const ModelConfig &cfg, const std::vector<float> &feature_std)
		: d_(d), episodes_(std::move(episodes)), opt_(opt), cfg_(cfg), std_(feature_std), rng_(seed)
	{
		std::vector<double> weights;
		for (const Episode &e : episodes_)
			weights.push_back(static_cast<double>(e.end - e.begin - cfg.window + 1));
		pick_ = std::discrete_distribution<size_t>(weights.begin(), weights.end());
	}

	Batch draw(size_t count)
	{
		const uint32_t w = cfg_.window, F = d_.features;
		Batch b = empty_batch(count, w, F);
		if (!d_.weight.empty())
			b.sample_weights = torch::empty({static_cast<int64_t>(count), w});
		float *returns = b.returns.data_ptr<float>(), *states = b.states.data_ptr<float>();
		int64_t *actions = b.actions.data_ptr<int64_t>();
		for (size_t k = 0; k < count; k++) {
			const Episode &e = episodes_[pick_(rng_)];
			std::uniform_int_distribution<size_t> start(0, e.end - e.begin - w);
			float *s = states + k * w * F;
			fill_window(d_, e, start(rng_), w, returns + k * w, s, actions + k * w,
				    d_.weight.empty() ? nullptr : b.sample_weights.data_ptr<float>() + k * w);
			augment(s);
		}
		if (cfg_.time_embedding == TimeEmbedding::ring_position) {
			// A router's context may start anywhere in the ring: every offset.
			b.first_slots = torch::empty({static_cast<int64_t>(count)}, torch::kLong);
			std::uniform_int_distribution<int64_t> slot(0, w - 1);
			int64_t *fs = b.first_slots.data_ptr<int64_t>();
			for (size_t k = 0; k < count; k++)
				fs[k] = slot(rng_);
		}
		if (opt_.temporal_dropout > 0)
			b.hidden = torch::rand({static_cast<int64_t>(count), w}).lt(opt_.temporal_dropout);
		return b;
	}

    private:
	void augment(float *s)
	{
		const uint32_t w = cfg_.window, F = d_.features;
		if (opt_.noise > 0)
			for (uint32_t j = 0; j < w * F; j++)
				s[j] *= 1.0f + static_cast<float>(opt_.noise) * gauss_(rng_);
		if (opt_.offset_noise > 0)
			for (uint32_t f = 0; f < F; f++) {
				const float offset = static_cast<float>(opt_.offset_noise) * std_[f] * gauss_(rng_);
				for (uint32_t t = 0; t < w; t++)
					s[t * F + f] += offset;
			}
	}

	const Dataset &d_;
	std::vector<Episode> episodes_;
	const TrainOptions &opt_;
	const ModelConfig &cfg_;
	const std::vector<float> &std_;
	std::mt19937_64 rng_;
	std::discrete_distribution<size_t> pick_;
	std::normal_distribution<float> gauss_{0.0f, 1.0f};
};

// Every held-out decision once (ValidationScore), at most opt.val_windows of
// them, evenly spaced; the ring slot of a window is its first step's index
// modulo w, as in the router's ring.
Batch validation_batch(const Dataset &d, const TrainOptions &opt, const ModelConfig &cfg)
{
	const uint32_t w = cfg.window, F = d.features;
	struct Scored {
		const Episode *e;
		size_t start;    // the window's first step in the episode
		uint32_t first;  // positions [first, w) of it are scored
	};
	std::vector<Scored> all;
	for (const Episode &e : d.val) {
		all.push_back({&e, 0, 0});
		for (size_t start = 1; start + w <= e.end - e.begin; start++)
			all.push_back({&e, start, w - 1});
	}
	std::vector<Scored> kept;
	if (all.size() <= opt.val_windows) {
		kept = all;
	} else {
		for (uint32_t k = 0; k < opt.val_windows; k++)
			kept.push_back(all[k * all.size() / opt.val_windows]);
	}
	Batch b = empty_batch(kept.size(), w, F);
	b.scored = torch::zeros({static_cast<int64_t>(kept.size()), w}, torch::kBool);
	b.first_slots = torch::empty({static_cast<int64_t>(kept.size())}, torch::kLong);
	float *returns = b.returns.data_ptr<float>(), *states = b.states.data_ptr<float>();
	int64_t *actions = b.actions.data_ptr<int64_t>(), *slots = b.first_slots.data_ptr<int64_t>();
	bool *scored = b.scored.data_ptr<bool>();
	for (size_t k = 0; k < kept.size(); k++) {
		fill_window(d, *kept[k].e, kept[k].start, w, returns + k * w, states + k * w * F, actions + k * w);
		slots[k] = static_cast<int64_t>(kept[k].start % w);
		for (uint32_t t = kept[k].first; t < w; t++)
			scored[k * w + t] = true;
	}
	if (cfg.time_embedding != TimeEmbedding::ring_position)
		b.first_slots = torch::Tensor();
	return b;
}

// The net's answers at the scored positions: logits [M][K] and the true actions [M].
std::pair<torch::Tensor, torch::Tensor> scored_logits(PolicyNet &net, const Batch &b)
{
	const torch::Tensor logits = net->forward(b.returns, b.states, b.actions, {}, b.first_slots);
	const torch::Tensor mask = b.scored.reshape({-1});
	const int64_t K = net->config.action_count;
	return {logits.reshape({-1, K}).index({mask}), b.actions.reshape({-1}).index({mask})};
}

ValidationScore score(const torch::Tensor &logits, const torch::Tensor &target)
{
	const auto K = static_cast<size_t>(logits.size(1));
	ValidationScore v;
	v.size_for(static_cast<uint32_t>(K));
	v.loss = torch::cross_entropy_loss(logits, target).item<double>();
	const torch::Tensor pred = logits.argmax(1);
	v.decisions = static_cast<uint64_t>(target.size(0));
	const int64_t *t = target.data_ptr<int64_t>();
	const torch::Tensor pred_c = pred.contiguous();
	const int64_t *p = pred_c.data_ptr<int64_t>();
	uint64_t right = 0;
	for (uint64_t i = 0; i < v.decisions; i++) {
		v.confusion[static_cast<size_t>(t[i])][static_cast<size_t>(p[i])]++;
		right += t[i] == p[i];
	}
	v.accuracy = v.decisions ? static_cast<double>(right) / static_cast<double>(v.decisions) : 0;
	int present = 0;
	for (size_t a = 0; a < K; a++) {
		for (size_t q = 0; q < K; q++)
			v.count[a] += v.confusion[a][q];
		v.recall[a] = v.count[a] ? static_cast<double>(v.confusion[a][a]) / static_cast<double>(v.count[a]) : 0;
		if (v.count[a]) {
			v.macro_recall += v.recall[a];
			present++;
		}
	}
	v.macro_recall = present ? v.macro_recall / present : 0;
	return v;
}

ValidationScore evaluate(PolicyNet &net, const Batch &val)
{
	torch::NoGradGuard g;
	net->eval();
	const auto [logits, target] = scored_logits(net, val);
	net->train();
	return score(logits, target);
}

double selection_score(const ValidationScore &v, Selection s)
{
	return s == Selection::macro_recall ? v.macro_recall : v.accuracy;
}

// A copy of every parameter and buffer, to export the best pass's weights.
struct Checkpoint {
	std::vector<torch::Tensor> tensors;
	uint32_t step = 0;
	double score = -1;

	void take(PolicyNet &net, uint32_t at, double value)
	{
		torch::NoGradGuard g;
		tensors.clear();
		for (const torch::Tensor &p : net->parameters())
			tensors.push_back(p.detach().clone());
		for (const torch::Tensor &b : net->buffers())
			tensors.push_back(b.detach().clone());
		step = at;
		score = value;
	}
	void restore(PolicyNet &net) const
	{
		torch::NoGradGuard g;
		size_t i = 0;
		for (torch::Tensor &p : net->parameters())
			p.copy_(tensors[i++]);
		for (torch::Tensor &b : net->buffers())
			b.copy_(tensors[i++]);
	}
};

// The configuration the pools and the backbone fix, then the net with its
// normalisation, backbone and adapters.
std::string build_net(const TrainOptions &opt, const Dataset &d, const Normalisation &norm, double gamma,
		      const TrainReport &report, const Gpt2Backbone &backbone, PolicyNet &net)
{
	ModelConfig cfg = opt.model;
	cfg.feature_count = d.features;
	cfg.action_count = d.action_count;
	const auto &names = experience::kFeatureNames;
	const bool decision_features = std::all_of(report.features.begin(), report.features.end(), [&](const std::string &n) {
		return std::find(names.begin(), names.end(), n) != names.end();
	});
	if (cfg.kernels.size() == names.size() && d.features != cfg.kernels.size() && decision_features) {
		std::vector<uint32_t> kept; // kernels given for the decisions' 8 features: the model's
		for (const std::string &name : report.features)
			kept.push_back(cfg.kernels[static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin())]);
		cfg.kernels = kept;
	}
	if (cfg.kernels.size() != d.features)
		cfg.kernels.assign(d.features, 1);
	cfg.feature_names = report.features;
	cfg.gamma = static_cast<float>(gamma);
	if (!opt.backbone_path.empty()) {
		cfg.d_model = backbone.d_model;
		cfg.layers = backbone.layers;
		cfg.heads = backbone.heads;
		cfg.mlp_hidden = backbone.mlp_hidden;
	}
	cfg.rtg_scale = norm.rtg_scale;
	if (d.objective_reward)
		cfg.reward_offset_us = 0;
	cfg.target_return = opt.method == Method::bc ? 0.0f : 1.0f; // dt, awr: the best return seen, in scaled units
	// (the decision-transformer convention); bc: none
	if (opt.method != Method::bc && opt.target_quantile > 0) {
		std::vector<float> r;
		for (const Episode &e : d.train)
			r.insert(r.end(), d.rtg.begin() + static_cast<std::ptrdiff_t>(e.begin),
				 d.rtg.begin() + static_cast<std::ptrdiff_t>(e.end));
		if (!r.empty()) {
			const size_t k = std::min(r.size() - 1, static_cast<size_t>(opt.target_quantile * static_cast<double>(r.size())));
			std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(k), r.end());
			cfg.target_return = r[k] / norm.rtg_scale;
		}
	}
	if (std::string err = check_config(cfg); !err.empty())
		return err;
	net = PolicyNet(cfg);
	{
		torch::NoGradGuard g;
		for (uint32_t f = 0; f < d.features; f++) {
			net->norm_mean[f].fill_(norm.mean[f]);
			net->norm_std[f].fill_(norm.std[f]);
		}
	}
	if (!opt.backbone_path.empty()) {
		try {
			net->load_backbone(backbone);
		} catch (const std::exception &e) {
			return opt.backbone_path + ": " + e.what();
		}
		net->freeze_backbone();
		if (opt.lora_rank)
			net->enable_lora(opt.lora_rank, opt.lora_alpha);
	}
	net->set_dropout(opt.dropout);
	return {};
}

// One batch's loss: weighted cross-entropy of the true actions, mixed with
// the teacher's softened answers when distilling.
torch::Tensor batch_loss(PolicyNet &net, PolicyNet &teacher, const Batch &b, const torch::Tensor &weights,
			 const TrainOptions &opt, torch::Tensor &logits)
{
	const int64_t K = net->config.action_count;
	logits = net->forward(b.returns, b.states, b.actions, b.hidden, b.first_slots).reshape({-1, K});
	const torch::Tensor target = b.actions.reshape({-1});
	// Weighted by the logged action, averaged over the positions (not over
	// the weights): the mean of N ranks' losses is then the global batch's.
	torch::Tensor loss;
	if (b.sample_weights.defined()) // awr: each position's advantage weight as well
		loss = (torch::nn::functional::cross_entropy(
				logits, target,
				torch::nn::functional::CrossEntropyFuncOptions().weight(weights).reduction(torch::kNone)) *
			b.sample_weights.reshape({-1}))
			       .sum() /
		       static_cast<double>(target.size(0));
	else
		loss = torch::nn::functional::cross_entropy(
			       logits, target,
			       torch::nn::functional::CrossEntropyFuncOptions().weight(weights).reduction(torch::kSum)) /
		       static_cast<double>(target.size(0));
	if (teacher.is_empty())
		return loss;
	torch::Tensor soft;
	{
		torch::NoGradGuard g;
		soft = teacher->forward(b.returns, b.states, b.actions, {}, b.first_slots).reshape({-1, K});
	}
	const double T = opt.temperature;
	const torch::Tensor t_log = torch::log_softmax(soft / T, -1);
	const torch::Tensor s_log = torch::log_softmax(logits / T, -1);
	const torch::Tensor kl = (t_log.exp() * (t_log - s_log)).sum(-1).mean();
	return opt.distill_weight * T * T * kl + (1 - opt.distill_weight) * loss;
}

// Linear warm-up, then (cosine) half a cosine down to a tenth of the peak at
// the last step: the late small steps settle the sharp decision boundaries a
// constant rate keeps jumping across.
double learning_rate(const TrainOptions &opt, uint32_t step)
{
	const uint32_t warmup = std::max<uint32_t>(1, opt.warmup);
	if (step < warmup || !opt.cosine_decay)
		return opt.lr * std::min(1.0, static_cast<double>(step) / warmup);
	const double progress = opt.steps > warmup ? static_cast<double>(step - warmup) / (opt.steps - warmup) : 1.0;
	return opt.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * std::min(1.0, progress))));
}

double seconds_since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Torch's and OpenBLAS's threads, and the seed every draw starts from.
void set_up_torch(const TrainOptions &opt)
{
	if (opt.threads) {
		torch::set_num_threads(static_cast<int>(opt.threads));
		if (openblas_set_num_threads)
			openblas_set_num_threads(static_cast<int>(opt.threads));
	}
	torch::manual_seed(opt.seed);
}

// The pools as one data set, split into training and validation episodes,
// with the normalisation fitted on it (and, for awr, the advantage weights).
std::string prepare_data(const std::vector<experience::Pool> &pools, const TrainOptions &opt, double gamma,
			 Dataset &data, Normalisation &norm, TrainReport &report)
{
	std::vector<Episode> episodes;
	// The caller's validation episodes, when it split them, follow the training ones.
	if (std::string err = merge_pools(in_order({&pools, opt.val_pools}), gamma, data, episodes, report.features);
	    !err.empty())
		return err;
	report.episodes = episodes.size();
	report.action_count = data.action_count;
	const size_t presplit = opt.val_pools ? opt.val_pools->size() : SIZE_MAX;
	if (std::string err = split_episodes(data, episodes, presplit, opt, opt.model.window, report); !err.empty())
		return err;
	if (opt.method == Method::bc)
		std::fill(data.rtg.begin(), data.rtg.end(), 0.0f);
	if (std::string err = fit_normalisation(data, opt.dp, norm); !err.empty())
		return err;
	if (opt.method == Method::bc)
		norm.rtg_scale = 1e30f; // a run-time return-to-go reads as 0, as in training
	if (opt.method == Method::awr)
		if (std::string err = fit_advantage_weights(data, norm, opt, report); !err.empty())
			return err;
	return {};
}

// The teacher to distil from, when there is one: its features and actions
// must be the pools' and its window at least the student's.
std::string load_teacher(const TrainOptions &opt, TrainReport &report, PolicyNet &teacher)
{
	if (!opt.teacher)
		return {};
	const ModelConfig &tc = opt.teacher->config;
	if (tc.feature_names != report.features)
		return "the teacher's features are not the pools' features";
	if (tc.action_count != report.action_count)
		return fmt::format("the teacher has {} actions, the pools {}", tc.action_count, report.action_count);
	if (tc.window < opt.model.window)
		return fmt::format("the teacher's window ({} steps) is shorter than the student's ({})", tc.window,
				   opt.model.window);
	teacher = import_model(*opt.teacher);
	teacher->eval();
	report.teacher_parameters = opt.teacher->parameter_count();
	return {};
}

// The nets: the student built on its backbone when there is one, with (data
// parallel) every rank starting from rank 0's weights, and the teacher when
// distilling. The teacher is loaded before the student is built, so that the
// student's initial weights are drawn where they always were.
std::string make_nets(const TrainOptions &opt, const Dataset &data, const Normalisation &norm, double gamma,
		      TrainReport &report, PolicyNet &net, PolicyNet &teacher)
{
	Gpt2Backbone backbone;
	if (!opt.backbone_path.empty()) {
		if (std::string err = load_gpt2_backbone(opt.backbone_path, opt.backbone_heads, backbone); !err.empty())
			return err;
		report.backbone_parameters = backbone.parameters;
	}
	if (std::string err = load_teacher(opt, report, teacher); !err.empty())
		return err;
	if (std::string err = build_net(opt, data, norm, gamma, report, backbone, net); !err.empty())
		return err;
	if (opt.dp) { // every rank starts from rank 0's weights
		std::vector<torch::Tensor> all = net->parameters();
		for (const torch::Tensor &b : net->buffers())
			all.push_back(b);
		if (std::string err = opt.dp->broadcast(all); !err.empty())
			return err;
	}
	return {};
}

// One sampler per rank: this rank's (data-parallel), or, emulating N ranks
// in one process, one per shard with that rank's stream, so that a step sees
// the global batch N ranks would.
std::string make_samplers(const Dataset &data, const TrainOptions &opt, const ModelConfig &cfg,
			  const Normalisation &norm, uint32_t ranks, std::vector<WindowSampler> &samplers)
{
	const uint32_t first_rank = opt.dp ? opt.dp->rank() : 0, shards = opt.dp ? 1 : ranks;
	for (uint32_t r = first_rank; r < first_rank + shards; r++) {
		std::vector<Episode> mine;
		for (const Episode &e : data.train)
			if (opt.dp || e.index % ranks == r)
				mine.push_back(e);
		if (mine.empty())
			return fmt::format("rank {} of {} has no training episode of at least {} steps", r, ranks,
					   opt.model.window);
		samplers.emplace_back(data, std::move(mine), opt.seed + 7919 * r, opt, cfg, norm.std);
	}
	return {};
}

// The windows the training split holds, over every rank.
std::string count_train_windows(const Dataset &data, const TrainOptions &opt, double &windows)
{
	std::vector<double> count{0};
	for (const Episode &e : data.train)
		count[0] += static_cast<double>(e.end - e.begin - opt.model.window + 1);
	if (opt.dp)
		if (std::string err = opt.dp->sum(count); !err.empty())
			return err;
	windows = count[0];
	return {};
}

// What the steps work on, set up once before the first.
struct Run {
	const TrainOptions &opt;
	PolicyNet &net;
	PolicyNet &teacher;
	torch::Tensor weights; // the loss's class weights
	std::vector<torch::Tensor> trainable;
	std::vector<WindowSampler> samplers;
	Batch val;
	bool validator = true; // this rank validates (rank 0, or the only one)
	double windows_per_step = 0, train_windows = 0;
	std::chrono::steady_clock::time_point t0;
};

// Where the steps are: the best checkpoint, the last validation, and the
// running means of the training loss and accuracy since then.
struct Progress {
	Checkpoint best;
	ValidationScore last_val;
	uint32_t passes_since_best = 0;
	double running_loss = 0, running_acc = 0;
	uint32_t running_n = 0;
	bool stop_vote = false; // rank 0's: out of time or out of patience; the others learn it with the next gradients

	void restart_means()
	{
		running_loss = running_acc = 0;
		running_n = 0;
	}
};

// One step's gradients: each sampler's batches through their own forward
// and backward (the gradients add up in .grad): one sampler is this rank's;
// several are the ranks a single process emulates, whose summed gradients
// are then scaled as the all-reduce scales them, so that with two ranks the
// arithmetic is the data-parallel run's to the bit.
void accumulate_gradients(Run &run, Progress &p)
{
	const TrainOptions &opt = run.opt;
	for (WindowSampler &sampler : run.samplers)
		for (uint32_t a = 0; a < opt.accumulate; a++) {
			const Batch b = sampler.draw(opt.batch);
			torch::Tensor logits;
			torch::Tensor loss =
				batch_loss(run.net, run.teacher, b, run.weights, opt, logits) / static_cast<double>(opt.accumulate);
			loss.backward();
			p.running_loss += loss.item<double>() * opt.accumulate;
			p.running_acc += logits.argmax(1).eq(b.actions.reshape({-1})).to(torch::kDouble).mean().item<double>();
			p.running_n++;
		}
	if (run.samplers.size() > 1) {
		torch::NoGradGuard g;
		for (torch::Tensor &t : run.trainable)
			if (t.grad().defined())
				t.grad().mul_(1.0 / static_cast<double>(run.samplers.size()));
	}
}

// After a step: validate where it is time (every eval_every steps, and at
// the last), keep the best checkpoint, count the patience; report progress.
// Returns whether to stop.
bool after_step(Run &run, Progress &p, uint32_t step, TrainReport &report)
{
	const TrainOptions &opt = run.opt;
	const bool out_of_time = run.validator && opt.max_seconds > 0 && seconds_since(run.t0) >= opt.max_seconds;
	TrainProgress progress;
	progress.step = step;
	progress.epoch = static_cast<double>(step) * run.windows_per_step / run.train_windows;
	progress.train_loss = p.running_loss / p.running_n;
	progress.train_accuracy = p.running_acc / p.running_n;
	progress.windows_per_second = static_cast<double>(step) * run.windows_per_step / seconds_since(run.t0);
	progress.val = p.last_val;
	bool stop = out_of_time || step == opt.steps;
	if (!run.validator) {
		p.restart_means();
	} else if (step % opt.eval_every == 0 || stop) {
		p.last_val = evaluate(run.net, run.val);
		report.final_train_loss = progress.train_loss;
		progress.validated = true;
		progress.val = p.last_val;
		const double value = selection_score(p.last_val, opt.select);
		if (value > p.best.score) {
			p.best.take(run.net, step, value);
			progress.improved = true;
			p.passes_since_best = 0;
		} else if (opt.patience && ++p.passes_since_best >= opt.patience) {
			report.stopped_early = true;
			stop = true;
		}
		p.restart_means();
	}
	progress.best_step = p.best.step;
	if (opt.on_progress)
		opt.on_progress(progress);
	return stop;
}

// The steps: learning rate, gradients (averaged over the ranks), clipping,
// the optimiser's step, then validation. A stop (time, patience) is taken
// by every rank at the same step. Error text or empty.
std::string train_steps(Run &run, Progress &p, TrainReport &report)
{
	const TrainOptions &opt = run.opt;
	torch::optim::AdamW optim(run.trainable, torch::optim::AdamWOptions(opt.lr).weight_decay(opt.weight_decay));
	for (uint32_t step = 1; step <= opt.steps; step++) {
		const double lr = learning_rate(opt, step);
		for (auto &group : optim.param_groups())
			static_cast<torch::optim::AdamWOptions &>(group.options()).lr(lr);
		optim.zero_grad();
		accumulate_gradients(run, p);
		if (opt.dp) {
			bool stop_now = p.stop_vote;
			if (std::string err = opt.dp->average_gradients(run.trainable, stop_now); !err.empty())
				return err;
			if (stop_now)
				break; // every rank at the same step
		}
		torch::nn::utils::clip_grad_norm_(run.trainable, opt.grad_clip);
		optim.step();
		if (step == 1)
			report.first_loss = p.running_loss / p.running_n;
		report.steps_done = step;
		const bool stop = after_step(run, p, step, report);
		if (stop && opt.dp && step < opt.steps) {
			p.stop_vote = true; // the others stop with the next gradients
			continue;
		}
		if (stop)
			break;
	}
	return {};
}

// The best checkpoint's figures on the validation split: its scores, its
// agreement with the teacher, and the majority class's accuracy to read
// them against.
void score_best(Run &run, Progress &p, const Normalisation &norm, const torch::Tensor &teacher_pred,
		TrainReport &report)
{
	PolicyNet &net = run.net;
	if (p.best.tensors.empty()) // no step ran: the untrained net is all there is
		p.best.take(net, 0, 0);
	p.best.restore(net);
	report.best_step = p.best.step;
	report.val = evaluate(net, run.val);
	report.final_val_loss = report.val.loss;
	report.val_accuracy = report.val.accuracy;
	report.val_class_accuracy = report.val.recall;
	report.val_class_count = report.val.count;
	if (teacher_pred.defined()) {
		torch::NoGradGuard g;
		net->eval();
		report.teacher_agreement =
			scored_logits(net, run.val).first.argmax(1).eq(teacher_pred).to(torch::kDouble).mean().item<double>();
	}
	const int majority = static_cast<int>(std::max_element(norm.class_count.begin(), norm.class_count.end()) -
					      norm.class_count.begin());
	report.majority_accuracy = report.val.decisions ? static_cast<double>(report.val.count[majority]) /
								  static_cast<double>(report.val.decisions)
							: 0;
}

// The test pools, never trained on nor used to pick the checkpoint: every
// decision once. Error text or empty.
std::string score_test_pools(const TrainOptions &opt, double gamma, PolicyNet &net, TrainReport &report)
{
	const uint32_t w = opt.model.window;
	Dataset test;
	std::vector<Episode> test_episodes;
	std::vector<std::string> features = report.features;
	if (std::string err = merge_pools(in_order({opt.test_pools}), gamma, test, test_episodes, features); !err.empty())
		return "test pools: " + err;
	if (test.action_count != net->config.action_count)
		return fmt::format("test pools: {} actions, the model has {}", test.action_count, net->config.action_count);
	for (const Episode &e : test_episodes)
		if (e.end - e.begin >= w)
			test.val.push_back(e);
	if (test.val.empty())
		return fmt::format("test pools: no episode of at least {} steps (the window)", w);
	TrainOptions all_of_it = opt;
	all_of_it.val_windows = UINT32_MAX;
	report.test = evaluate(net, validation_batch(test, all_of_it, net->config));
	return {};
}

} // namespace

std::string train_policy(const std::vector<experience::Pool> &pools, const TrainOptions &opt, Model &out, TrainReport &report)
{
	const auto t0 = std::chrono::steady_clock::now();
	report = TrainReport{};
	set_up_torch(opt);
	// A student learns returns-to-go as its teacher saw them.
	const double gamma = opt.teacher ? static_cast<double>(opt.teacher->config.gamma) : opt.gamma;
	Dataset data;
	Normalisation norm;
	if (std::string err = prepare_data(pools, opt, gamma, data, norm, report); !err.empty())
		return err;
	const bool validator = !opt.dp || opt.dp->rank() == 0;
	const uint32_t ranks = opt.dp ? opt.dp->world() : std::max<uint32_t>(1, opt.emulate_ranks);

	PolicyNet net{nullptr}, teacher{nullptr};
	if (std::string err = make_nets(opt, data, norm, gamma, report, net, teacher); !err.empty())
		return err;
	const ModelConfig &cfg = net->config;
	report.parameters = net->parameter_count(false);
	report.trainable_parameters = net->parameter_count(true);
	if (std::string err = loss_weights(opt, norm.class_count, report.class_weights, report.class_weighted);
	    !err.empty())
		return err;

	Run run{opt, net, teacher};
	run.weights = torch::tensor(std::vector<float>(report.class_weights.begin(), report.class_weights.end()));
	for (const torch::Tensor &p : net->parameters())
		if (p.requires_grad())
			run.trainable.push_back(p);
	run.validator = validator;
	run.val = validator ? validation_batch(data, opt, cfg) : Batch{};
	torch::Tensor teacher_pred; // the teacher's answers on it, once: they do not change
	if (!teacher.is_empty() && validator) {
		torch::NoGradGuard g;
		const auto [logits, target] = scored_logits(teacher, run.val);
		teacher_pred = logits.argmax(1);
		report.teacher_accuracy = teacher_pred.eq(target).to(torch::kDouble).mean().item<double>();
	}
	if (std::string err = make_samplers(data, opt, cfg, norm, ranks, run.samplers); !err.empty())
		return err;
	if (std::string err = count_train_windows(data, opt, run.train_windows); !err.empty())
		return err;
	run.windows_per_step = static_cast<double>(opt.batch) * opt.accumulate * ranks;
	run.t0 = t0;

	Progress progress;
	progress.last_val.size_for(cfg.action_count);
	if (std::string err = train_steps(run, progress, report); !err.empty())
		return err;
	report.allreduce_seconds = opt.dp ? opt.dp->allreduce_seconds() : 0;
	report.seconds = seconds_since(t0);
	if (!validator) { // rank 0 validates and exports
		out = export_model(net);
		report.exported_parameters = out.parameter_count();
		return {};
	}
	score_best(run, progress, norm, teacher_pred, report);
	if (opt.test_pools)
		if (std::string err = score_test_pools(opt, gamma, net, report); !err.empty())
			return err;
	out = export_model(net);
	report.exported_parameters = out.parameter_count();
	if (opt.trained_net)
		*opt.trained_net = net.ptr();
	report.seconds = seconds_since(t0);
	return check_tensors(out);
}

} // namespace dualpilot::policy
