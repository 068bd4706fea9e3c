#include "policy/training/shard.hpp"

#include <cmath>
#include <fmt/format.h>

namespace dualpilot::policy {

namespace {

// Calls f(episode) for each episode of the pool: [begin, end) entries.
template <typename F>
void each_episode(const experience::Pool &p, F f)
{
	for (size_t i = 0, begin = 0; i < p.size(); i++)
		if (p.dones[i] || i + 1 == p.size()) {
			f(begin, i + 1);
			begin = i + 1;
		}
}

experience::Pool slice(const experience::Pool &p, size_t begin, size_t end, uint32_t absent_features)
{
	experience::Pool e;
	e.reward_definition = p.reward_definition;
	e.absent_features = absent_features;
	e.action_count = p.action_count;
	e.table = p.table;
	const size_t f = static_cast<size_t>(p.feature_count());
	e.states.assign(p.states.begin() + static_cast<long>(begin * f), p.states.begin() + static_cast<long>(end * f));
	e.actions.assign(p.actions.begin() + static_cast<long>(begin), p.actions.begin() + static_cast<long>(end));
	e.rewards.assign(p.rewards.begin() + static_cast<long>(begin), p.rewards.begin() + static_cast<long>(end));
	e.dones.assign(p.dones.begin() + static_cast<long>(begin), p.dones.begin() + static_cast<long>(end));
	e.dones.back() = 1;
	return e;
}

} // namespace

std::string load_shard(const std::vector<std::string> &paths, uint32_t world, uint32_t rank, double val_fraction,
		       Shard &out)
{
	out = Shard{};
	if (world == 0 || rank >= world)
		return fmt::format("rank {} is not in a world of {}", rank, world);
	uint64_t episodes = 0;
	// A feature any pool lacks is absent from every shard, so that every rank
	// builds the same model whatever pools its episodes come from.
	uint32_t absent = 0;
	for (const std::string &path : paths) { // first pass: count, and the action counts compared
		experience::Pool p;
		experience::PoolReadReport report; // corrupt entries are skipped (and reported in the second pass)
		if (std::string err = experience::read_pool(path, p, &report); !err.empty())
			return err;
		each_episode(p, [&](size_t, size_t) { episodes++; });
		out.entries += p.size();
		absent |= p.absent_features;
		if (out.action_count && p.action_count != out.action_count)
			return fmt::format("{}: {} actions, the pools before it {}", path, p.action_count, out.action_count);
		out.action_count = p.action_count;
	}
	const auto n_val = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(static_cast<double>(episodes) * val_fraction)));
	out.episodes = episodes;
	if (episodes <= n_val || episodes - n_val < world)
		return fmt::format("data-parallel training over {} ranks needs at least {} training episodes besides the {} "
				   "validating; the pools hold {} episodes in all (split long runs into episodes, or use fewer "
				   "ranks)",
				   world, world, n_val, episodes);
	out.train_episodes = episodes - n_val;
	out.val_episodes = n_val;
	uint64_t k = 0;
	for (const std::string &path : paths) { // second pass: keep this rank's
		experience::Pool p;
		experience::PoolReadReport report;
		if (std::string err = experience::read_pool(path, p, &report); !err.empty())
			return err;
		for (const std::string &w : report.warnings(path))
			out.warnings.push_back(w);
		each_episode(p, [&](size_t begin, size_t end) {
			if (k < out.train_episodes) {
				if (shard_owner(k, world) == rank) {
					out.train.push_back(slice(p, begin, end, absent));
					out.owned.push_back(k);
				}
			} else if (rank == 0) {
				out.val.push_back(slice(p, begin, end, absent));
			}
			k++;
		});
	}
	return {};
}

} // namespace dualpilot::policy
