#include "policy/training/train.hpp"

#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <random>

#include "policy/gpt2.hpp"
#include "policy/training/torch_model.hpp"

namespace dualpilot::policy {

std::vector<float> returns_to_go(const std::vector<float> &rewards, const std::vector<uint8_t> &dones, double gamma)
{
	std::vector<float> out(rewards.size());
	double acc = 0;
	for (size_t i = rewards.size(); i-- > 0;) {
		if (dones[i])
			acc = 0; // the last step of an episode: nothing after it counts
		acc = rewards[i] + gamma * acc;
		out[i] = static_cast<float>(acc);
	}
	return out;
}

namespace {

struct Episode {
	size_t begin, end; // entries [begin, end) of the merged pool
};

struct Batch {
	torch::Tensor returns, states, actions;
	torch::Tensor hidden; // temporal dropout's hidden steps, or undefined
	torch::Tensor first_slots; // ring-position models: each window's oldest ring slot
};

} // namespace

std::string train_policy(const std::vector<sim::Pool> &pools, const TrainOptions &opt, Model &out, TrainReport &report)
{
	const auto t0 = std::chrono::steady_clock::now();
	if (opt.threads)
		torch::set_num_threads(static_cast<int>(opt.threads));
	torch::manual_seed(opt.seed);
	sim::Pool all;
	for (const sim::Pool &p : pools) {
		if (p.size() == 0)
			continue;
		all.append(p);
		all.dones.back() = 1; // a pool's end ends its episode
	}
	if (all.size() == 0)
		return "the pools hold no entries";
	const uint32_t F = sim::kFeatureCount, w = opt.model.window;
	// A student learns returns-to-go as its teacher saw them.
	const double gamma = opt.teacher ? static_cast<double>(opt.teacher->config.gamma) : opt.gamma;
	const std::vector<float> rtg = returns_to_go(all.rewards, all.dones, gamma);

	// Episodes, then the split: the last val_fraction of them validate.
	std::vector<Episode> episodes;
	for (size_t i = 0, begin = 0; i < all.size(); i++)
		if (all.dones[i]) {
			episodes.push_back({begin, i + 1});
			begin = i + 1;
		}
	report.episodes = episodes.size();
	std::vector<Episode> train, val;
	if (episodes.size() == 1) {
		// One episode: its last val_fraction of steps validate (never sampled for training).
		const Episode e = episodes[0];
		const size_t cut = e.begin + static_cast<size_t>(static_cast<double>(e.end - e.begin) * (1 - opt.val_fraction));
		train.push_back({e.begin, cut});
		val.push_back({cut, e.end});
	} else {
		const auto n_val = std::max<size_t>(1, static_cast<size_t>(std::ceil(episodes.size() * opt.val_fraction)));
		train.assign(episodes.begin(), episodes.end() - static_cast<long>(n_val));
		val.assign(episodes.end() - static_cast<long>(n_val), episodes.end());
	}
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
	keep_long(train, report.train_steps_in_pool);
	keep_long(val, report.val_steps_in_pool);
	report.train_episodes = train.size();
	report.val_episodes = val.size();
	if (train.empty() || val.empty())
		return fmt::format("not enough data: {} training and {} validation episodes of at least {} steps (the "
				   "window)",
				   train.size(), val.size(), w);

	ModelConfig cfg = opt.model;
	cfg.feature_count = F;
	if (cfg.kernels.size() != F)
		cfg.kernels.assign(F, 1);
	cfg.feature_names.assign(sim::kFeatureNames.begin(), sim::kFeatureNames.end());
	cfg.gamma = static_cast<float>(gamma);
	Gpt2Backbone backbone;
	if (!opt.backbone_path.empty()) {
		if (std::string err = load_gpt2_backbone(opt.backbone_path, opt.backbone_heads, backbone); !err.empty())
			return err;
		cfg.d_model = backbone.d_model;
		cfg.layers = backbone.layers;
		cfg.heads = backbone.heads;
		cfg.mlp_hidden = backbone.mlp_hidden;
		report.backbone_parameters = backbone.parameters;
	}
	PolicyNet teacher{nullptr};
	if (opt.teacher) {
		const ModelConfig &tc = opt.teacher->config;
		if (tc.feature_names != cfg.feature_names)
			return "the teacher's features are not the pools' features";
		if (tc.window < w)
			return fmt::format("the teacher's window ({} steps) is shorter than the student's ({})", tc.window, w);
		teacher = import_model(*opt.teacher);
		teacher->eval();
		report.teacher_parameters = opt.teacher->parameter_count();
	}
	// Normalisation and return scale from the training split only.
	std::vector<double> sum(F, 0), sq(F, 0);
	double max_rtg = 0;
	uint64_t n = 0;
	std::array<uint64_t, 3> train_class{};
	for (const Episode &e : train)
		for (size_t i = e.begin; i < e.end; i++) {
			for (uint32_t f = 0; f < F; f++) {
				const double v = all.states[i * F + f];
				sum[f] += v;
				sq[f] += v * v;
			}
			max_rtg = std::max(max_rtg, std::fabs(static_cast<double>(rtg[i])));
			train_class[std::min<uint8_t>(all.actions[i], 2)]++;
			n++;
		}
	cfg.rtg_scale = static_cast<float>(max_rtg > 1e-6 ? max_rtg : 1.0);
	cfg.target_return = 1.0f; // the best return seen, in scaled units (the decision-transformer convention)
	if (std::string err = check_config(cfg); !err.empty())
		return err;
	PolicyNet net(cfg);
	std::vector<float> feature_std(F);
	{
		torch::NoGradGuard g;
		for (uint32_t f = 0; f < F; f++) {
			const double mean = sum[f] / static_cast<double>(n);
			const double var = std::max(0.0, sq[f] / static_cast<double>(n) - mean * mean);
			feature_std[f] = static_cast<float>(std::sqrt(var) > 1e-6 ? std::sqrt(var) : 1.0);
			net->norm_mean[f].fill_(mean);
			net->norm_std[f].fill_(feature_std[f]);
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
	report.parameters = net->parameter_count(false);
	report.trainable_parameters = net->parameter_count(true);
	std::vector<torch::Tensor> trainable;
	for (const torch::Tensor &p : net->parameters())
		if (p.requires_grad())
			trainable.push_back(p);

	std::mt19937_64 rng(opt.seed);
	auto window_at = [&](const Episode &e, size_t start, float *r, float *s, int64_t *a) {
		for (uint32_t t = 0; t < w; t++) {
			const size_t i = e.begin + start + t;
			r[t] = rtg[i];
			for (uint32_t f = 0; f < F; f++)
				s[t * F + f] = all.states[i * F + f];
			a[t] = std::min<uint8_t>(all.actions[i], 2);
		}
	};
	auto make_batch = [&](const std::vector<Episode> &eps, size_t count, bool training) {
		Batch b;
		b.returns = torch::empty({static_cast<int64_t>(count), w});
		b.states = torch::empty({static_cast<int64_t>(count), w, F});
		b.actions = torch::empty({static_cast<int64_t>(count), w}, torch::kLong);
		// Episodes are drawn by their length, so every step is equally likely.
		std::vector<double> weights;
		for (const Episode &e : eps)
			weights.push_back(static_cast<double>(e.end - e.begin - w + 1));
		std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
		std::normal_distribution<float> gauss(0.0f, 1.0f);
		for (size_t k = 0; k < count; k++) {
			const Episode &e = eps[pick(rng)];
			std::uniform_int_distribution<size_t> start(0, e.end - e.begin - w);
			window_at(e, start(rng), b.returns[k].data_ptr<float>(), b.states[k].data_ptr<float>(),
				  b.actions[k].data_ptr<int64_t>());
			float *s = b.states[k].data_ptr<float>();
			if (training && opt.noise > 0)
				for (uint32_t j = 0; j < w * F; j++)
					s[j] *= 1.0f + static_cast<float>(opt.noise) * gauss(rng);
			if (training && opt.offset_noise > 0)
				for (uint32_t f = 0; f < F; f++) {
					const float offset = static_cast<float>(opt.offset_noise) * feature_std[f] * gauss(rng);
					for (uint32_t t = 0; t < w; t++)
						s[t * F + f] += offset;
				}
		}
		if (cfg.time_embedding == TimeEmbedding::ring_position) {
			// A router's context may start anywhere in the ring: every offset.
			b.first_slots = torch::empty({static_cast<int64_t>(count)}, torch::kLong);
			std::uniform_int_distribution<int64_t> slot(0, w - 1);
			int64_t *fs = b.first_slots.data_ptr<int64_t>();
			for (size_t k = 0; k < count; k++)
				fs[k] = slot(rng);
		}
		if (training && opt.temporal_dropout > 0)
			b.hidden = torch::rand({static_cast<int64_t>(count), w}).lt(opt.temporal_dropout);
		return b;
	};

	// A fixed validation set, drawn once.
	std::mt19937_64 saved = rng;
	rng.seed(opt.seed ^ 0x5eedull);
	const Batch val_batch = make_batch(val, opt.val_windows, false);
	rng = saved;
	// The teacher's answers on it, once: they do not change.
	torch::Tensor teacher_val_pred;
	if (!teacher.is_empty()) {
		torch::NoGradGuard g;
		teacher_val_pred = teacher->forward(val_batch.returns, val_batch.states, val_batch.actions, {},
						    val_batch.first_slots)
					   .reshape({-1, 3})
					   .argmax(1);
		report.teacher_accuracy =
			teacher_val_pred.eq(val_batch.actions.reshape({-1})).to(torch::kDouble).mean().item<double>();
	}
	auto evaluate = [&](double &loss, double &acc, std::array<double, 3> *per_class,
			    std::array<uint64_t, 3> *class_count) {
		torch::NoGradGuard g;
		net->eval();
		const torch::Tensor logits =
			net->forward(val_batch.returns, val_batch.states, val_batch.actions, {}, val_batch.first_slots);
		const torch::Tensor flat = logits.reshape({-1, 3});
		const torch::Tensor target = val_batch.actions.reshape({-1});
		loss = torch::cross_entropy_loss(flat, target).item<double>();
		const torch::Tensor pred = flat.argmax(1);
		acc = pred.eq(target).to(torch::kDouble).mean().item<double>();
		if (teacher_val_pred.defined())
			report.teacher_agreement = pred.eq(teacher_val_pred).to(torch::kDouble).mean().item<double>();
		if (per_class)
			for (int c = 0; c < 3; c++) {
				const torch::Tensor m = target.eq(c);
				(*class_count)[c] = static_cast<uint64_t>(m.sum().item<int64_t>());
				(*per_class)[c] = (*class_count)[c] ? pred.masked_select(m).eq(c).to(torch::kDouble).mean().item<double>()
								    : 0.0;
			}
		net->train();
	};

	torch::optim::AdamW optim(trainable, torch::optim::AdamWOptions(opt.lr).weight_decay(opt.weight_decay));
	double running_loss = 0, running_acc = 0, last_val_loss = 0, last_val_acc = 0;
	uint32_t running_n = 0;
	uint64_t train_windows = 0;
	for (const Episode &e : train)
		train_windows += e.end - e.begin - w + 1;
	for (uint32_t step = 1; step <= opt.steps; step++) {
		const double lr = opt.lr * std::min(1.0, static_cast<double>(step) / std::max<uint32_t>(1, opt.warmup));
		for (auto &group : optim.param_groups())
			static_cast<torch::optim::AdamWOptions &>(group.options()).lr(lr);
		optim.zero_grad();
		for (uint32_t a = 0; a < opt.accumulate; a++) {
			const Batch b = make_batch(train, opt.batch, true);
			const torch::Tensor logits =
				net->forward(b.returns, b.states, b.actions, b.hidden, b.first_slots).reshape({-1, 3});
			const torch::Tensor target = b.actions.reshape({-1});
			torch::Tensor loss = torch::cross_entropy_loss(logits, target);
			if (!teacher.is_empty()) {
				torch::Tensor soft;
				{
					torch::NoGradGuard g;
					soft = teacher->forward(b.returns, b.states, b.actions, {}, b.first_slots).reshape({-1, 3});
				}
				const double T = opt.temperature;
				const torch::Tensor t_log = torch::log_softmax(soft / T, -1);
				const torch::Tensor s_log = torch::log_softmax(logits / T, -1);
				const torch::Tensor kl = (t_log.exp() * (t_log - s_log)).sum(-1).mean();
				loss = opt.distill_weight * T * T * kl + (1 - opt.distill_weight) * loss;
			}
			loss = loss / static_cast<double>(opt.accumulate);
			loss.backward();
			running_loss += loss.item<double>() * opt.accumulate;
			running_acc += logits.argmax(1).eq(target).to(torch::kDouble).mean().item<double>();
			running_n++;
		}
		torch::nn::utils::clip_grad_norm_(trainable, opt.grad_clip);
		optim.step();
		if (step == 1)
			report.first_loss = running_loss / running_n;
		report.steps_done = step;
		const bool out_of_time =
			opt.max_seconds > 0 &&
			std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= opt.max_seconds;
		TrainProgress progress;
		progress.step = step;
		progress.epoch = static_cast<double>(step) * opt.batch * opt.accumulate / static_cast<double>(train_windows);
		progress.train_loss = running_loss / running_n;
		progress.train_accuracy = running_acc / running_n;
		progress.windows_per_second = static_cast<double>(step) * opt.batch * opt.accumulate /
					      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
		progress.val_loss = last_val_loss;
		progress.val_accuracy = last_val_acc;
		const bool last_step = step == opt.steps || out_of_time;
		if (step % opt.eval_every == 0 || last_step) {
			// The last pass is the report's, per action too.
			evaluate(last_val_loss, last_val_acc, last_step ? &report.val_class_accuracy : nullptr,
				 last_step ? &report.val_class_count : nullptr);
			report.final_train_loss = progress.train_loss;
			progress.validated = true;
			progress.val_loss = last_val_loss;
			progress.val_accuracy = last_val_acc;
			running_loss = running_acc = 0;
			running_n = 0;
		}
		if (opt.on_progress)
			opt.on_progress(progress);
		if (out_of_time)
			break;
	}
	if (report.steps_done == 0) // no step ran, so no validation pass either
		evaluate(last_val_loss, last_val_acc, &report.val_class_accuracy, &report.val_class_count);
	report.final_val_loss = last_val_loss;
	report.val_accuracy = last_val_acc;
	const uint64_t total = report.val_class_count[0] + report.val_class_count[1] + report.val_class_count[2];
	const int majority = static_cast<int>(std::max_element(train_class.begin(), train_class.end()) - train_class.begin());
	report.majority_accuracy = total ? static_cast<double>(report.val_class_count[majority]) / static_cast<double>(total) : 0;
	out = export_model(net);
	report.exported_parameters = out.parameter_count();
	if (opt.trained_net)
		*opt.trained_net = net.ptr();
	report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	return check_tensors(out);
}

} // namespace dualpilot::policy
