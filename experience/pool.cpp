#include "experience/pool.hpp"

#include "experience/objective.hpp"

#include "common/read_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace dualpilot::experience {

namespace {

constexpr char kMagic[8] = {'D', 'P', 'P', 'O', 'O', 'L', '\0', '\1'};
constexpr size_t kRewardDefBytes = 64;
constexpr size_t kNameBytes = 32;
constexpr size_t kHeaderBytesV1 = 8 + 4 + 4 + 8 + kRewardDefBytes;
constexpr size_t kHeaderBytes = kHeaderBytesV1 + 8; // + the absent-feature mask and the action count (v2: zero)
constexpr uint64_t kMaxEntries = 1ull << 34; // 16 G entries: far past any real pool

template <typename T>
void put(std::string &buf, const T &v)
{
	buf.append(reinterpret_cast<const char *>(&v), sizeof(v));
}

void put_padded(std::string &buf, const std::string &s, size_t width)
{
	std::string field = s.substr(0, width - 1);
	field.resize(width, '\0');
	buf += field;
}

bool ends_with(const std::string &s, const char *suffix)
{
	const size_t n = std::strlen(suffix);
	return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Collects corrupt entries: with a report they are skipped and counted,
// without one the first becomes the reader's error.
struct EntryChecker {
	const std::string &path;
	PoolReadReport *report;
	std::string first_error;

	// Returns true when reading may go on.
	bool corrupt(uint64_t entry, const std::string &where, const std::string &what)
	{
		std::string msg = path + ": entry " + std::to_string(entry);
		if (!where.empty())
			msg.append(" (").append(where).append(")");
		msg.append(": ").append(what);
		if (!report) {
			first_error = msg;
			return false;
		}
		report->skipped++;
		if (report->problems.size() < PoolReadReport::kMaxProblems)
			report->problems.push_back(msg);
		return true;
	}
};

// What is wrong with an entry's numbers in pool p (its action count and
// feature table), or empty.
std::string entry_defect(const float *state, uint8_t action, const Pool &p, float reward)
{
	if (action >= p.action_count)
		return "action " + std::to_string(action) + " outside 0.." + std::to_string(p.action_count - 1);
	for (int k = 0; k < p.feature_count(); k++)
		if (!std::isfinite(state[k]))
			return std::string("feature ").append(p.feature_name(k)).append(" is not finite");
	if (!std::isfinite(reward))
		return "reward is not finite";
	return {};
}

// Adds an entry that passed the checks; a skipped episode end is carried
// over to the last kept entry by add_skipped_done.
void add_entry(Pool &p, const float *state, uint8_t action, float reward, bool done)
{
	p.add_row(state, action, reward, done);
}

// The table whose names a file's F names are, or none.
std::optional<FeatureTable> table_of(const std::vector<std::string> &names)
{
	for (FeatureTable t : {FeatureTable::decisions, FeatureTable::tuner}) {
		const auto want = table_names(t);
		if (names.size() == want.size() && std::equal(names.begin(), names.end(), want.begin()))
			return t;
	}
	return std::nullopt;
}

void add_skipped_done(Pool &p, bool done)
{
	if (done && p.size() > 0)
		p.dones.back() = 1;
}

} // namespace

std::vector<std::string> PoolReadReport::warnings(const std::string &path) const
{
	std::vector<std::string> out = problems;
	if (skipped)
		out.push_back(path + ": " + std::to_string(skipped) + " of " + std::to_string(entries) +
			      " entries corrupt and skipped");
	return out;
}

std::span<const char *const> table_names(FeatureTable t)
{
	if (t == FeatureTable::tuner)
		return kTuneFeatureNames;
	return kFeatureNames;
}

std::string Pool::append(const Pool &other)
{
	if (size() == 0) {
		action_count = other.action_count;
		table = other.table;
	} else if (other.size() > 0 && other.action_count != action_count) {
		return "cannot append a pool of " + std::to_string(other.action_count) + " actions to one of " +
		       std::to_string(action_count);
	} else if (other.size() > 0 && other.table != table) {
		return "cannot append a pool of " + std::to_string(other.feature_count()) + " features to one of " +
		       std::to_string(feature_count()) + ": another table";
	}
	states.insert(states.end(), other.states.begin(), other.states.end());
	actions.insert(actions.end(), other.actions.begin(), other.actions.end());
	rewards.insert(rewards.end(), other.rewards.begin(), other.rewards.end());
	dones.insert(dones.end(), other.dones.begin(), other.dones.end());
	absent_features |= other.absent_features;
	return {};
}

std::string encode_pool_binary(const Pool &pool)
{
	std::string buf;
	const uint64_t n = pool.size();
	buf.append(kMagic, sizeof(kMagic));
	put(buf, kPoolVersion);
	put(buf, static_cast<uint32_t>(pool.feature_count()));
	put(buf, n);
	put_padded(buf, pool.reward_definition, kRewardDefBytes);
	put(buf, pool.absent_features);
	put(buf, pool.action_count);
	for (const char *name : table_names(pool.table))
		put_padded(buf, name, kNameBytes);
	buf.append(reinterpret_cast<const char *>(pool.states.data()), pool.states.size() * sizeof(float));
	buf.append(reinterpret_cast<const char *>(pool.actions.data()), n);
	buf.append(reinterpret_cast<const char *>(pool.rewards.data()), n * sizeof(float));
	buf.append(reinterpret_cast<const char *>(pool.dones.data()), n);
	put(buf, common::fnv1a64(buf.data(), buf.size()));
	return buf;
}

uint64_t pool_binary_bytes(uint64_t entries, FeatureTable table)
{
	const uint64_t features = table_names(table).size();
	return kHeaderBytes + kNameBytes * features + entries * (features * 4 + 1 + 4 + 1) + 8;
}

std::string write_pool_binary(const Pool &pool, const std::string &path)
{
	const std::string buf = encode_pool_binary(pool);
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	if (!out.write(buf.data(), static_cast<std::streamsize>(buf.size())))
		return path + ": cannot write";
	return {};
}

namespace {

// The .dpp header's fields, as far as the version has them.
struct BinaryHeader {
	uint32_t version = 0, features = 0, absent = 0, action_count = kVerdictActionCount;
	uint64_t entries = 0;
	size_t bytes = 0; // where the feature names start
};

std::string at_byte(const std::string &path, size_t offset, const std::string &what)
{
	return path + ": byte " + std::to_string(offset) + ": " + what;
}

// The header of buf, checked for what it alone can say. Error text or empty.
std::string read_binary_header(const std::string &buf, const std::string &path, BinaryHeader &h)
{
	if (buf.size() < kHeaderBytesV1 + 8)
		return at_byte(path, buf.size(), "truncated: shorter than the header");
	if (std::memcmp(buf.data(), kMagic, sizeof(kMagic)) != 0)
		return at_byte(path, 0, "not a dualpilot pool (wrong magic)");
	std::memcpy(&h.version, buf.data() + 8, 4);
	std::memcpy(&h.features, buf.data() + 12, 4);
	std::memcpy(&h.entries, buf.data() + 16, 8);
	if (h.version < 1 || h.version > kPoolVersion)
		return at_byte(path, 8, "version " + std::to_string(h.version) + " is not supported (this build reads 1 to " +
						std::to_string(kPoolVersion) + ")");
	h.bytes = h.version == 1 ? kHeaderBytesV1 : kHeaderBytes;
	if (h.version >= 2) {
		if (buf.size() < kHeaderBytes + 8)
			return at_byte(path, buf.size(), "truncated: shorter than the header");
		std::memcpy(&h.absent, buf.data() + kHeaderBytesV1, 4);
		if (h.features < 32 && h.absent >> h.features)
			return at_byte(path, kHeaderBytesV1, "absent-feature mask names features past the last");
	}
	if (h.version >= 3) {
		std::memcpy(&h.action_count, buf.data() + kHeaderBytesV1 + 4, 4);
		if (h.action_count < 2 || h.action_count > kMaxPoolActions)
			return at_byte(path, kHeaderBytesV1 + 4, "action count " + std::to_string(h.action_count) +
								  " is outside 2.." + std::to_string(kMaxPoolActions));
	}
	if (h.features != table_names(FeatureTable::decisions).size() && h.features != table_names(FeatureTable::tuner).size())
		return at_byte(path, 12, "feature count " + std::to_string(h.features) + ", expected " +
						 std::to_string(table_names(FeatureTable::decisions).size()) + " (decisions) or " +
						 std::to_string(table_names(FeatureTable::tuner).size()) + " (the tuner's)");
	if (h.entries > kMaxEntries)
		return at_byte(path, 16, "entry count " + std::to_string(h.entries) + " is absurd");
	return {};
}

} // namespace

std::string read_pool_binary(const std::string &path, Pool &out, PoolReadReport *report)
{
	std::string buf;
	if (!common::read_file(path, buf))
		return path + ": cannot open";
	auto err = [&](size_t offset, const std::string &what) { return at_byte(path, offset, what); };
	BinaryHeader h;
	if (std::string e = read_binary_header(buf, path, h); !e.empty())
		return e;
	const uint32_t features = h.features;
	const uint64_t n = h.entries;
	const size_t header = h.bytes;
	const uint64_t body = header + kNameBytes * features + n * (features * 4 + 1 + 4 + 1);
	if (buf.size() != body + 8)
		return err(buf.size(), "size " + std::to_string(buf.size()) + " does not match " + std::to_string(n) +
					       " entries (" + std::to_string(body + 8) + " bytes expected): truncated or padded");
	uint64_t stored = 0;
	std::memcpy(&stored, buf.data() + body, 8);
	if (stored != common::fnv1a64(buf.data(), body))
		return err(body, "checksum mismatch: the file is corrupt");
	Pool p;
	p.table = features == table_names(FeatureTable::tuner).size() ? FeatureTable::tuner : FeatureTable::decisions;
	for (uint32_t i = 0; i < features; i++) {
		const char *name = buf.data() + header + kNameBytes * i;
		if (std::strncmp(name, p.feature_name(static_cast<int>(i)), kNameBytes) != 0)
			return err(header + kNameBytes * i,
				   "feature " + std::to_string(i) + " is '" + std::string(name, strnlen(name, kNameBytes)) +
					   "', expected '" + p.feature_name(static_cast<int>(i)) + "'");
	}
	const char *def = buf.data() + 24;
	p.reward_definition.assign(def, strnlen(def, kRewardDefBytes));
	p.absent_features = h.absent;
	p.action_count = h.action_count;
	const size_t states_at = header + kNameBytes * features, actions_at = states_at + n * features * 4;
	const size_t rewards_at = actions_at + n, dones_at = rewards_at + n * 4;
	EntryChecker check{path, report, {}};
	p.states.reserve(n * features);
	p.actions.reserve(n);
	p.rewards.reserve(n);
	p.dones.reserve(n);
	std::vector<float> state(features);
	for (uint64_t i = 0; i < n; i++) {
		std::memcpy(state.data(), buf.data() + states_at + i * features * 4, features * 4);
		const auto action = static_cast<uint8_t>(buf[actions_at + i]);
		float reward = 0;
		std::memcpy(&reward, buf.data() + rewards_at + i * 4, 4);
		const bool done = buf[dones_at + i] != 0;
		if (std::string defect = entry_defect(state.data(), action, p, reward); !defect.empty()) {
			if (!check.corrupt(i, "byte " + std::to_string(states_at + i * features * 4), defect))
				return check.first_error;
			add_skipped_done(p, done);
			continue;
		}
		add_entry(p, state.data(), action, reward, done);
	}
	if (report)
		report->entries += n;
	out = std::move(p);
	return {};
}

std::string write_pool_json(const Pool &pool, const std::string &path)
{
	nlohmann::json j;
	j["schema"] = {{"format", "dualpilot-pool"},
		       {"version", kPoolVersion},
		       {"features", std::vector<std::string>(table_names(pool.table).begin(), table_names(pool.table).end())},
		       {"action_count", pool.action_count},
		       {"reward", pool.reward_definition}};
	if (pool.action_count == kVerdictActionCount) // other kinds of action are named by their maker, not here
		j["schema"]["actions"] = {"enqueue", "drop", "ecn_mark"};
	std::vector<std::string> absent;
	for (int k = 0; k < pool.feature_count(); k++)
		if (!pool.has_feature(k))
			absent.push_back(pool.feature_name(k));
	j["schema"]["absent"] = absent;
	nlohmann::json states = nlohmann::json::array();
	const size_t f = static_cast<size_t>(pool.feature_count());
	for (size_t i = 0; i < pool.size(); i++)
		states.push_back(std::vector<float>(pool.states.begin() + i * f, pool.states.begin() + (i + 1) * f));
	j["states"] = std::move(states);
	j["actions"] = pool.actions;
	j["rewards"] = pool.rewards;
	j["dones"] = pool.dones;
	std::ofstream out(path, std::ios::trunc);
	if (!(out << j.dump() << '\n'))
		return path + ": cannot write";
	return {};
}

std::string read_pool_json(const std::string &path, Pool &out, PoolReadReport *report)
{
	std::string text;
	if (!common::read_file(path, text))
		return path + ": cannot open";
	return parse_pool_json(text, path, out, report);
}

namespace {

// The JSON pool's "schema": the reward's definition, the features absent
// from it and the action count (3 where it is not given). Error text or
// empty.
std::string read_json_schema(const nlohmann::json &j, const std::string &path, Pool &p)
{
	if (j.contains("schema") && j["schema"].contains("reward") && j["schema"]["reward"].is_string())
		p.reward_definition = j["schema"]["reward"];
	if (j.contains("schema") && j["schema"].contains("features")) {
		const auto &f = j["schema"]["features"];
		std::vector<std::string> names;
		for (const auto &name : f.is_array() ? f : nlohmann::json::array())
			names.push_back(name.is_string() ? name.get<std::string>() : name.dump());
		const std::optional<FeatureTable> t = f.is_array() ? table_of(names) : std::nullopt;
		if (!t)
			return path + ": schema.features names neither the decisions' features nor the tuner's";
		p.table = *t;
	}
	if (j.contains("schema") && j["schema"].contains("action_count")) {
		const auto &k = j["schema"]["action_count"];
		if (!k.is_number_integer() || k.get<int64_t>() < 2 || k.get<int64_t>() > kMaxPoolActions)
			return path + ": schema.action_count must be an integer in 2.." + std::to_string(kMaxPoolActions);
		p.action_count = k.get<uint32_t>();
	}
	if (j.contains("schema") && j["schema"].contains("absent")) {
		const auto &absent = j["schema"]["absent"];
		if (!absent.is_array())
			return path + ": schema.absent must be a list of feature names";
		for (const auto &name : absent) {
			const auto names = table_names(p.table);
			const auto it = name.is_string() ? std::find(names.begin(), names.end(), name.get<std::string>()) : names.end();
			if (it == names.end())
				return path + ": schema.absent: " + name.dump() + " is not one of the pool's features";
			p.absent_features |= 1u << (it - names.begin());
		}
	}
	return {};
}

// One JSON entry's state, action and reward, or what is wrong with it.
std::string json_entry(const nlohmann::json &s, const nlohmann::json &a, const nlohmann::json &r, const Pool &p,
		       std::vector<float> &st, uint8_t &action, float &reward)
{
	const int features = p.feature_count();
	if (!s.is_array() || s.size() != static_cast<size_t>(features))
		return "state must have " + std::to_string(features) + " numbers";
	st.resize(static_cast<size_t>(features));
	for (int k = 0; k < features; k++) {
		if (!s[k].is_number())
			return std::string("feature ").append(p.feature_name(k)).append(" is not a number");
		st[static_cast<size_t>(k)] = s[k].get<float>();
	}
	if (!a.is_number_integer() || a.get<int64_t>() < 0 || a.get<int64_t>() >= p.action_count)
		return "action must be an integer in 0.." + std::to_string(p.action_count - 1);
	if (!r.is_number())
		return "reward is not a number";
	action = static_cast<uint8_t>(a.get<int>());
	reward = r.get<float>();
	return entry_defect(st.data(), action, p, reward);
}

} // namespace

std::string parse_pool_json(std::string_view text, const std::string &path, Pool &out, PoolReadReport *report)
{
	nlohmann::json j;
	try {
		j = nlohmann::json::parse(text);
	} catch (const nlohmann::json::exception &e) {
		return path + ": not JSON: " + e.what();
	}
	if (!j.is_object() || !j.contains("states") || !j.contains("actions") || !j.contains("rewards") ||
	    !j.contains("dones"))
		return path + ": expected an object with states, actions, rewards and dones";
	const auto &states = j["states"], &actions = j["actions"], &rewards = j["rewards"], &dones = j["dones"];
	if (!states.is_array() || !actions.is_array() || !rewards.is_array() || !dones.is_array())
		return path + ": states, actions, rewards and dones must be arrays";
	const size_t n = actions.size();
	if (states.size() != n || rewards.size() != n || dones.size() != n)
		return path + ": states, actions, rewards and dones differ in length";
	Pool p;
	if (!j.contains("schema") && n > 0 && states[0].is_array() && states[0].size() == 7)
		return path + ": a 7-feature pool in the paper's layout: bring it in with 'dualpilot-pool import " + path +
		       " --out POOL.dpp'";
	if (std::string err = read_json_schema(j, path, p); !err.empty())
		return err;
	EntryChecker check{path, report, {}};
	for (size_t i = 0; i < n; i++) {
		const bool done = dones[i].is_boolean() ? dones[i].get<bool>() : dones[i].is_number() && dones[i].get<double>() != 0;
		std::vector<float> st;
		uint8_t action = 0;
		float reward = 0;
		std::string defect = json_entry(states[i], actions[i], rewards[i], p, st, action, reward);
		if (!defect.empty()) {
			if (!check.corrupt(i, "", defect))
				return check.first_error;
			add_skipped_done(p, done);
			continue;
		}
		add_entry(p, st.data(), action, reward, done);
	}
	if (report)
		report->entries += n;
	out = std::move(p);
	return {};
}

std::string read_pool(const std::string &path, Pool &out, PoolReadReport *report)
{
	if (ends_with(path, ".json"))
		return read_pool_json(path, out, report);
	if (ends_with(path, ".dpp"))
		return read_pool_binary(path, out, report);
	return path + ": unknown pool format (use .json or .dpp)";
}

std::string write_pool(const Pool &pool, const std::string &path)
{
	if (ends_with(path, ".json"))
		return write_pool_json(pool, path);
	if (ends_with(path, ".dpp"))
		return write_pool_binary(pool, path);
	return path + ": unknown pool format (use .json or .dpp)";
}

} // namespace dualpilot::experience
