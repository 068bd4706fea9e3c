#include "sim/pool_import.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/read_file.hpp"
#include "sim/pickle.hpp"

namespace dualpilot::sim {

namespace {

// The 24 fields of one kernel record, in the order the paper lists them.
constexpr int kLogFields = 24;
constexpr const char *kLogFieldNames[kLogFields] = {
	"queue_type", "qdelay_ref", "tupdate", "max_burst", "max_ecnth", "alpha", "beta", "flags",
	"burst_allowance", "drop_prob", "current_qdelay", "qdelay_old", "accu_prob", "measurement_start",
	"avg_dq_time", "dq_count", "sflags", "tot_pkts", "tot_bytes", "length", "len_bytes", "drops",
	"packet_length", "dequeue_action"};
// The router's PIE keeps probabilities in fixed point with 1.0 near 2^31.
constexpr double kLogProbScale = 2147483647.0;

bool parse_record(std::string_view body, std::array<int64_t, kLogFields> &v, std::string &why)
{
	int field = 0;
	size_t pos = 0;
	while (true) {
		const size_t comma = body.find(',', pos);
		const std::string_view tok = body.substr(pos, comma == std::string_view::npos ? body.npos : comma - pos);
		if (field >= kLogFields) {
			why = "more than 24 fields";
			return false;
		}
		int64_t x = 0;
		const auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), x);
		if (tok.empty() || ec != std::errc() || end != tok.data() + tok.size()) {
			why = "field " + std::to_string(field + 1) + " (" + kLogFieldNames[field] + ") is not an integer: '" +
			      std::string(tok.substr(0, 32)) + "'";
			return false;
		}
		v[field++] = x;
		if (comma == std::string_view::npos)
			break;
		pos = comma + 1;
	}
	if (field != kLogFields) {
		why = "expected 24 comma-separated integers, got " + std::to_string(field);
		return false;
	}
	return true;
}

} // namespace

void import_kernel_log(const std::string &text, const std::string &origin, const experience::RewardSpec &reward,
		       experience::Pool &pool, ImportReport &report, size_t max_errors)
{
	static constexpr std::string_view kStart = "l4s_ecn_marking-start,";
	static constexpr std::string_view kEnd = ",end";
	std::istringstream in(text);
	std::string line;
	uint64_t line_no = 0;
	const size_t first_entry = pool.size();
	while (std::getline(in, line)) {
		line_no++;
		report.lines++;
		if (!line.empty() && line.back() == '\r')
			line.pop_back();
		const size_t start = line.find(kStart);
		if (start == std::string::npos)
			continue;
		report.records++;
		auto bad = [&](const std::string &why) {
			report.malformed++;
			if (report.errors.size() < max_errors)
				report.errors.push_back(origin + ":" + std::to_string(line_no) + ": " + why);
		};
		const size_t body_at = start + kStart.size();
		const size_t end = line.find(kEnd, body_at);
		if (end == std::string::npos) {
			bad("record has no ',end' (truncated line?)");
			continue;
		}
		std::array<int64_t, kLogFields> v{};
		std::string why;
		if (!parse_record(std::string_view(line).substr(body_at, end - body_at), v, why)) {
			bad(why);
			continue;
		}
		if (v[0] != 0 && v[0] != 1) {
			bad("queue_type " + std::to_string(v[0]) + " is neither 0 (Classic) nor 1 (L4S)");
			continue;
		}
		if (v[23] < 1 || v[23] > 3) {
			bad("dequeue_action " + std::to_string(v[23]) + " outside 1..3");
			continue;
		}
		if (v[10] < 0 || v[22] < 0 || v[20] < 0 || v[21] < 0) {
			bad("negative delay, length or drop count");
			continue;
		}
		const auto delay_us = static_cast<double>(v[10]);
		const std::array<float, experience::kFeatureCount> state = {
			static_cast<float>(v[0]),
			static_cast<float>(v[8]),
			static_cast<float>(static_cast<double>(v[9]) / kLogProbScale),
			static_cast<float>(delay_us),
			static_cast<float>(static_cast<double>(v[12]) / kLogProbScale),
			static_cast<float>(v[20]),
			static_cast<float>(v[21]),
			static_cast<float>(v[22]),
		};
		const double r = reward.of(static_cast<double>(v[22]), delay_us);
		pool.add(state, static_cast<uint8_t>(v[23] - 1), static_cast<float>(r), false);
		report.imported++;
	}
	if (pool.size() > first_entry)
		pool.dones.back() = 1; // one log, one episode
}


namespace {

// A source's decisions before they become pool entries: rows of `width`
// features in the source's order (7: the paper's, 8: the pool's).
struct SourceRows {
	size_t width = 0;
	std::vector<double> states;           // rows x width; NaN where a row was unreadable
	std::vector<std::string> row_defect;  // per row: why it cannot be read, or empty
	std::vector<double> actions, rewards, dones;
	size_t rows() const { return actions.size(); }
};

// The paper's 7 features in the pool's order: pool feature k reads source
// column kPaperColumn[k], -1 where the paper has none (total_drops).
constexpr int kPaperColumn[experience::kFeatureCount] = {0, 1, 2, 3, 4, 5, -1, 6};
constexpr int kDropProbability = 2, kAccumulatedProbability = 4;

void note_skip(ImportReport &report, size_t max_errors, const std::string &origin, size_t entry, const std::string &what)
{
	report.malformed++;
	if (report.errors.size() < max_errors)
		report.errors.push_back(origin + ": entry " + std::to_string(entry) + ": " + what);
}

// Appends the rows to the pool: features mapped, probabilities rescaled when
// the source is on the kernel's fixed-point scale, corrupt rows skipped and
// reported, the last entry ending the episode.
std::string add_rows(const SourceRows &src, const std::string &origin, const experience::RewardSpec *reward, experience::Pool &pool,
		     ImportReport &report, size_t max_errors)
{
	const size_t n = src.rows();
	report.records += n;
	if (n == 0)
		return origin + ": the pool holds no decisions";
	if (src.width != 7 && src.width != static_cast<size_t>(experience::kFeatureCount))
		return origin + ": states have " + std::to_string(src.width) +
		       " features; expected 7 (the paper's: queue_type, burst_allowance, drop_probability, "
		       "current_queue_delay, accumulated_probability, length_in_bytes, packet_length) or 8 (the pool's)";
	const bool paper = src.width == 7;
	double max_prob = 0;
	for (size_t i = 0; i < n; i++)
		if (src.row_defect[i].empty() && std::isfinite(src.states[i * src.width + kDropProbability]))
			max_prob = std::max(max_prob, src.states[i * src.width + kDropProbability]);
	const double prob_scale = max_prob > 1 ? 1.0 / kLogProbScale : 1.0;
	std::string note = origin + ": " + std::to_string(src.width) + " features";
	if (paper)
		note += " (the paper's; total_drops absent)";
	if (prob_scale != 1.0) {
		char max[32];
		std::snprintf(max, sizeof(max), "%.4g", max_prob);
		note += std::string("; probabilities on the fixed-point scale (drop_probability up to ") + max +
			"), divided by 2^31 - 1";
	}
	if (!reward) // the pool says what its rewards are
		pool.reward_definition = ("as recorded in " + std::filesystem::path(origin).filename().string()).substr(0, 63);
	report.notes.push_back(note);
	if (paper)
		pool.absent_features |= 1u << 6;
	const size_t first = pool.size();
	for (size_t i = 0; i < n; i++) {
		if (!src.row_defect[i].empty()) {
			note_skip(report, max_errors, origin, i, src.row_defect[i]);
			continue;
		}
		std::array<float, experience::kFeatureCount> state{};
		bool finite = true;
		for (int k = 0; k < experience::kFeatureCount; k++) {
			const int col = paper ? kPaperColumn[k] : k;
			double v = col < 0 ? 0.0 : src.states[i * src.width + static_cast<size_t>(col)];
			if (col == kDropProbability || col == kAccumulatedProbability)
				v *= prob_scale;
			finite = finite && std::isfinite(v);
			state[static_cast<size_t>(k)] = static_cast<float>(v);
		}
		const double a = src.actions[i];
		if (!finite) {
			note_skip(report, max_errors, origin, i, "a feature is not a finite number");
			continue;
		}
		if (!(a == 0 || a == 1 || a == 2)) {
			note_skip(report, max_errors, origin, i, "action " + std::to_string(a) + " is not 0, 1 or 2");
			continue;
		}
		const double r = reward ? reward->of_state(state.data()) : src.rewards[i];
		if (!std::isfinite(r) || !std::isfinite(src.dones[i])) {
			note_skip(report, max_errors, origin, i, "reward or done is not a finite number");
			continue;
		}
		pool.add(state, static_cast<uint8_t>(a), static_cast<float>(r), src.dones[i] != 0);
		report.imported++;
	}
	if (pool.size() > first)
		pool.dones.back() = 1; // one file, one episode at least
	return {};
}

// --- pickles ---

// A 1-D sequence of numbers: a list or tuple of numbers (Python or numpy
// scalars, 0-d arrays) or a 1-D array. NaN marks an element that is not a number.
bool pickle_numbers(const pickle::Value *v, std::vector<double> &out)
{
	if (!v)
		return false;
	if (v->kind == pickle::Kind::array) {
		if (v->shape.size() > 2 || (v->shape.size() == 2 && v->shape[1] != 1))
			return false;
		out = v->numbers;
		return true;
	}
	if (v->kind != pickle::Kind::list && v->kind != pickle::Kind::tuple)
		return false;
	out.clear();
	out.reserve(v->items.size());
	for (const pickle::Value *x : v->items) {
		if (x->is_number())
			out.push_back(x->number());
		else if (x->kind == pickle::Kind::array && x->numbers.size() == 1)
			out.push_back(x->numbers[0]);
		else
			out.push_back(std::nan(""));
	}
	return true;
}

std::string pickle_states(const pickle::Value *v, const std::string &origin, SourceRows &src)
{
	if (v && v->kind == pickle::Kind::array && v->shape.size() == 2) {
		src.width = static_cast<size_t>(v->shape[1]);
		src.states = v->numbers;
		src.row_defect.assign(static_cast<size_t>(v->shape[0]), {});
		return {};
	}
	if (!v || (v->kind != pickle::Kind::list && v->kind != pickle::Kind::tuple))
		return origin + ": 'states' is neither a list of states nor a 2-D array";
	// The width is the first readable row's; rows of another width are corrupt entries.
	std::vector<std::vector<double>> rows(v->items.size());
	for (size_t i = 0; i < rows.size(); i++) {
		const pickle::Value *row = v->items[i];
		if (row->kind == pickle::Kind::array && row->shape.size() == 1)
			rows[i] = row->numbers;
		else if (!pickle_numbers(row, rows[i]))
			rows[i].clear();
		if (!src.width && !rows[i].empty())
			src.width = rows[i].size();
	}
	src.row_defect.assign(rows.size(), {});
	src.states.assign(rows.size() * src.width, std::nan(""));
	for (size_t i = 0; i < rows.size(); i++) {
		if (rows[i].size() != src.width) {
			src.row_defect[i] = "the state is not " + std::to_string(src.width) + " numbers";
			continue;
		}
		std::copy(rows[i].begin(), rows[i].end(), src.states.begin() + static_cast<long>(i * src.width));
	}
	return {};
}

// The four parallel arrays, from a dict-like value; their lengths must agree.
std::string columns(const std::string &origin, SourceRows &src, size_t states_rows)
{
	if (src.actions.size() != states_rows || src.rewards.size() != states_rows || src.dones.size() != states_rows)
		return origin + ": states, actions, rewards and dones differ in length (" + std::to_string(states_rows) + ", " +
		       std::to_string(src.actions.size()) + ", " + std::to_string(src.rewards.size()) + ", " +
		       std::to_string(src.dones.size()) + ")";
	return {};
}

// --- JSON ---

void json_numbers(const nlohmann::json &j, std::vector<double> &out)
{
	out.clear();
	out.reserve(j.size());
	for (const auto &x : j)
		out.push_back(x.is_number() ? x.get<double>() : x.is_boolean() ? static_cast<double>(x.get<bool>()) : std::nan(""));
}

bool ends_with(const std::string &s, const char *suffix)
{
	const size_t n = std::strlen(suffix);
	return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

} // namespace

std::string import_pickle(std::string_view bytes, const std::string &origin, const experience::RewardSpec *reward, experience::Pool &pool,
			  ImportReport &report, size_t max_errors)
{
	pickle::Document doc;
	if (std::string err = pickle::load(bytes, doc); !err.empty())
		return origin + ": not a pool pickle: " + err;
	const pickle::Value *root = doc.root;
	if (root->kind == pickle::Kind::object && !root->state)
		return origin + ": the ExperiencePool object carries no state";
	if (root->kind != pickle::Kind::object && root->kind != pickle::Kind::dict)
		return origin + ": the pickle holds neither an ExperiencePool nor a dict";
	for (const char *key : {"states", "actions", "rewards", "dones"})
		if (!root->get(key))
			return origin + ": the pool has no '" + key + "'";
	SourceRows src;
	if (std::string err = pickle_states(root->get("states"), origin, src); !err.empty())
		return err;
	const size_t rows = src.row_defect.size();
	if (!pickle_numbers(root->get("actions"), src.actions) || !pickle_numbers(root->get("rewards"), src.rewards) ||
	    !pickle_numbers(root->get("dones"), src.dones))
		return origin + ": actions, rewards and dones must be lists or 1-D arrays of numbers";
	if (std::string err = columns(origin, src, rows); !err.empty())
		return err;
	return add_rows(src, origin, reward, pool, report, max_errors);
}

std::string import_json(std::string_view text, const std::string &origin, const experience::RewardSpec *reward, experience::Pool &pool,
			ImportReport &report, size_t max_errors)
{
	nlohmann::json j;
	try {
		j = nlohmann::json::parse(text);
	} catch (const nlohmann::json::exception &e) {
		return origin + ": not JSON: " + e.what();
	}
	if (!j.is_object())
		return origin + ": expected an object with states, actions, rewards and dones";
	if (j.contains("schema")) { // the pool format itself
		experience::Pool p;
		experience::PoolReadReport rr;
		if (std::string err = experience::parse_pool_json(text, origin, p, &rr); !err.empty())
			return err;
		report.records += rr.entries;
		report.imported += p.size();
		report.malformed += rr.skipped;
		for (const std::string &problem : rr.problems)
			if (report.errors.size() < max_errors)
				report.errors.push_back(problem);
		report.notes.push_back(origin + ": a dualpilot pool");
		if (reward && p.table != experience::FeatureTable::decisions)
			return origin + ": the reward is recomputed from a decision's features; this pool holds the tuner's";
		if (reward)
			for (size_t i = 0; i < p.size(); i++)
				p.rewards[i] = reward->of_state(&p.states[i * experience::kFeatureCount]);
		if (std::string err = pool.append(p); !err.empty())
			return origin + ": " + err;
		return {};
	}
	for (const char *key : {"states", "actions", "rewards", "dones"})
		if (!j.contains(key) || !j[key].is_array())
			return origin + ": expected an object with arrays states, actions, rewards and dones (no '" + key + "')";
	SourceRows src;
	const auto &states = j["states"];
	for (const auto &row : states)
		if (row.is_array() && !row.empty()) {
			src.width = row.size();
			break;
		}
	src.row_defect.assign(states.size(), {});
	src.states.assign(states.size() * src.width, std::nan(""));
	for (size_t i = 0; i < states.size(); i++) {
		if (!states[i].is_array() || states[i].size() != src.width) {
			src.row_defect[i] = "the state is not " + std::to_string(src.width) + " numbers";
			continue;
		}
		for (size_t k = 0; k < src.width; k++)
			if (states[i][k].is_number())
				src.states[i * src.width + k] = states[i][k].get<double>();
	}
	json_numbers(j["actions"], src.actions);
	json_numbers(j["rewards"], src.rewards);
	json_numbers(j["dones"], src.dones);
	if (std::string err = columns(origin, src, states.size()); !err.empty())
		return err;
	return add_rows(src, origin, reward, pool, report, max_errors);
}

std::string import_file(const std::string &path, const experience::RewardSpec &reward, bool recompute_reward, experience::Pool &pool,
			ImportReport &report, size_t max_errors)
{
	std::string data;
	if (!common::read_file(path, data))
		return path + ": cannot open";
	const experience::RewardSpec *recompute = recompute_reward ? &reward : nullptr;
	if (pickle::looks_like_pickle(data) || ends_with(path, ".pkl") || ends_with(path, ".pickle"))
		return import_pickle(data, path, recompute, pool, report, max_errors);
	const size_t first = data.find_first_not_of(" \t\r\n");
	if (first != std::string::npos && data[first] == '{')
		return import_json(data, path, recompute, pool, report, max_errors);
	const uint64_t records_before = report.records;
	import_kernel_log(data, path, reward, pool, report, max_errors);
	if (report.records == records_before)
		return path + ": no pool records found: not a Python pickle (protocol 2 to 5; protocols 0 and 1 when "
			      "the name ends in .pkl or .pickle), not JSON (an object with states, actions, rewards, "
			      "dones) and no kernel log line carrying 'l4s_ecn_marking-start,'";
	report.notes.push_back(path + ": kernel log");
	return {};
}

} // namespace dualpilot::sim
