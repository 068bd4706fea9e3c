#include "sim/pool_tools.hpp"

namespace dualpilot::sim {

namespace {

// Appends entries [begin, end) of `in` to `out`, the last ending an episode.
void append_range(experience::Pool &out, const experience::Pool &in, size_t begin, size_t end)
{
	const size_t f = static_cast<size_t>(in.feature_count());
	out.states.insert(out.states.end(), in.states.begin() + begin * f, in.states.begin() + end * f);
	out.actions.insert(out.actions.end(), in.actions.begin() + begin, in.actions.begin() + end);
	out.rewards.insert(out.rewards.end(), in.rewards.begin() + begin, in.rewards.begin() + end);
	out.dones.insert(out.dones.end(), in.dones.begin() + begin, in.dones.begin() + end);
	out.dones.back() = 1;
}

} // namespace

size_t count_episodes(const experience::Pool &p)
{
	size_t n = 0;
	for (size_t i = 0; i < p.size(); i++)
		n += p.dones[i] || i + 1 == p.size();
	return n;
}

std::string kind_mismatch(const experience::Pool &out, const experience::Pool &in)
{
	if (out.size() == 0 || in.size() == 0)
		return {};
	if (in.action_count != out.action_count)
		return "a pool of " + std::to_string(in.action_count) + " actions cannot join one of " +
		       std::to_string(out.action_count);
	if (in.table != out.table)
		return "a pool of " + std::to_string(in.feature_count()) + " features cannot join one of " +
		       std::to_string(out.feature_count()) + " (another feature table)";
	return {};
}

std::string append_episodes(experience::Pool &out, const experience::Pool &in)
{
	std::string warning;
	if (out.size() == 0) {
		out.reward_definition = in.reward_definition;
		out.action_count = in.action_count;
		out.table = in.table;
	}
	else if (in.size() > 0 && in.reward_definition != out.reward_definition) {
		warning = "reward '" + in.reward_definition + "' differs from '" + out.reward_definition + "'";
		if (!out.reward_definition.starts_with("mixed: "))
			out.reward_definition = "mixed: " + out.reward_definition;
	}
	out.absent_features |= in.absent_features;
	if (in.size() > 0)
		append_range(out, in, 0, in.size());
	return warning;
}

std::string shard_episodes(const std::vector<experience::Pool> &pools, size_t n, std::vector<experience::Pool> &shards)
{
	if (n == 0)
		return "0 shards: at least 1";
	size_t episodes = 0;
	uint32_t absent = 0;
	const experience::Pool *first = nullptr;
	for (const experience::Pool &p : pools) {
		if (first)
			if (std::string err = kind_mismatch(*first, p); !err.empty())
				return err;
		if (!first && p.size() > 0)
			first = &p;
		episodes += count_episodes(p);
		absent |= p.absent_features;
	}
	if (episodes < n)
		return std::to_string(n) + " shards but the pools hold " + std::to_string(episodes) +
		       " episodes: every shard needs at least one";
	std::vector<experience::Pool> out(n);
	for (experience::Pool &s : out) {
		s.absent_features = absent;
		s.reward_definition = pools.empty() ? s.reward_definition : pools.front().reward_definition;
		if (first) {
			s.action_count = first->action_count;
			s.table = first->table;
		}
	}
	size_t episode = 0;
	for (const experience::Pool &p : pools)
		for (size_t begin = 0, i = 0; i < p.size(); i++)
			if (p.dones[i] || i + 1 == p.size()) {
				append_range(out[episode++ % n], p, begin, i + 1);
				begin = i + 1;
			}
	shards = std::move(out);
	return {};
}

} // namespace dualpilot::sim
