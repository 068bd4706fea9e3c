// dualpilot-score: the objective (sim/objective.hpp) for figures measured
// elsewhere, so that the bed's Python reports score runs with the same code
// as the simulator and the router.
//
//   dualpilot-score [--objective FILE] --l4s P50,P99 --classic P50,P99 --utilisation U [--jain J] [--balance R]
//   dualpilot-score [--objective FILE] --json < inputs.json
//
// --json reads an array of {"l4s": {"p50_ms", "p99_ms"} or null, "classic":
// the same, "utilisation": 0..1, "jain": 0..1 or null, "balance": the L4S
// long flows' mean rate over the Classic ones' or null} and prints an array
// of {"score", "line"} in the same order. Delays are each queue's per-packet
// sojourn in ms; a class given as null (or left out) was offered no packets;
// utilisation is goodput over capacity.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <iostream>
#include <iterator>

#include "common/cli.hpp"
#include "experience/objective.hpp"

using namespace dualpilot;

namespace {

// Error text or empty.
std::string read_class(const nlohmann::json &j, const char *key, size_t index, experience::ClassFigures &out)
{
	if (!j.contains(key) || j[key].is_null())
		return {};
	const nlohmann::json &c = j[key];
	const std::string where = fmt::format("input {}: {}", index, key);
	if (!c.is_object() || !c.contains("p50_ms") || !c.contains("p99_ms") || !c["p50_ms"].is_number() ||
	    !c["p99_ms"].is_number())
		return where + ": expected {\"p50_ms\": number, \"p99_ms\": number} or null";
	out.present = true;
	out.p50_ms = c["p50_ms"].get<double>();
	out.p99_ms = c["p99_ms"].get<double>();
	if (!std::isfinite(out.p50_ms) || !std::isfinite(out.p99_ms) || out.p50_ms < 0 || out.p99_ms < 0)
		return where + ": delays must be finite and not negative";
	return {};
}

std::string read_inputs(const nlohmann::json &j, size_t index, experience::ObjectiveInputs &in)
{
	if (!j.is_object())
		return fmt::format("input {}: expected an object", index);
	if (std::string err = read_class(j, "l4s", index, in.queue[1]); !err.empty())
		return err;
	if (std::string err = read_class(j, "classic", index, in.queue[0]); !err.empty())
		return err;
	if (!j.contains("utilisation") || !j["utilisation"].is_number())
		return fmt::format("input {}: utilisation: expected a number 0..1", index);
	in.utilisation = j["utilisation"].get<double>();
	if (!std::isfinite(in.utilisation) || in.utilisation < 0 || in.utilisation > 1.5)
		return fmt::format("input {}: utilisation {} is not a fraction (0..1)", index, in.utilisation);
	if (j.contains("jain") && !j["jain"].is_null()) {
		if (!j["jain"].is_number())
			return fmt::format("input {}: jain: expected a number or null", index);
		in.jain = j["jain"].get<double>();
		if (!std::isfinite(in.jain) || in.jain < 0 || in.jain > 1 + 1e-9)
			return fmt::format("input {}: jain {} is not in 0..1", index, in.jain);
	}
	if (j.contains("balance") && !j["balance"].is_null()) {
		if (!j["balance"].is_number())
			return fmt::format("input {}: balance: expected a number or null", index);
		in.rate_balance = j["balance"].get<double>();
		if (!std::isfinite(in.rate_balance) || in.rate_balance < 0)
			return fmt::format("input {}: balance {} is not a ratio of rates (0 or more)", index, in.rate_balance);
	}
	return {};
}

bool parse_pair(const std::string &text, experience::ClassFigures &out)
{
	double a = 0, b = 0;
	char tail = 0;
	if (std::sscanf(text.c_str(), "%lf,%lf%c", &a, &b, &tail) != 2 || !std::isfinite(a) || !std::isfinite(b) || a < 0 ||
	    b < 0)
		return false;
	out = {true, a, b};
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	std::string objective_path, l4s, classic;
	double utilisation = -1, jain = -1, balance = -1;
	bool json_mode = false;
	CLI::App app{"dualpilot-score: the objective (docs/objective.md) for measured figures"};
	app.add_option("--objective", objective_path, "a TOML file whose [objective] table sets the weights");
	app.add_option("--l4s", l4s, "the L4S queue's delay p50,p99 in ms (leave out: no L4S packets)");
	app.add_option("--classic", classic, "the Classic queue's delay p50,p99 in ms (leave out: no Classic packets)");
	app.add_option("--utilisation", utilisation, "link utilisation 0..1")->check(CLI::Range(0.0, 1.5));
	app.add_option("--jain", jain, "Jain's index over the flows 0..1 (leave out: unknown)")->check(CLI::Range(0.0, 1.0));
	app.add_option("--balance", balance, "the L4S long flows' mean rate over the Classic ones' (leave out: unknown)")
		->check(CLI::Range(0.0, 1e6));
	app.add_flag("--json", json_mode, "read an array of inputs on stdin, print an array of scores");
	app.footer(dualpilot::common::example({"dualpilot-score --l4s 0.4,1.2 --classic 15,31 --utilisation 0.95 --jain 0.98"}));
	CLI11_PARSE(app, argc, argv);

	experience::Objective objective;
	if (!objective_path.empty())
		if (std::string err = experience::load_objective(objective_path, objective); !err.empty()) {
			fmt::print(stderr, "error: {}\n", err);
			return 2;
		}
	if (json_mode) {
		const std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
		const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
		if (j.is_discarded() || !j.is_array()) {
			fmt::print(stderr, "error: stdin: expected a JSON array of inputs\n");
			return 2;
		}
		nlohmann::json out = nlohmann::json::array();
		for (size_t i = 0; i < j.size(); i++) {
			experience::ObjectiveInputs in;
			if (std::string err = read_inputs(j[i], i, in); !err.empty()) {
				fmt::print(stderr, "error: {}\n", err);
				return 2;
			}
			in = experience::as_printed(in);
			out.push_back({{"score", experience::score(in, objective).score}, {"line", experience::objective_line(in, objective)}});
		}
		fmt::print("{}\n", out.dump());
		return 0;
	}
	if (utilisation < 0) {
		fmt::print(stderr, "error: --utilisation is required (or --json)\n");
		return 2;
	}
	experience::ObjectiveInputs in;
	if ((!l4s.empty() && !parse_pair(l4s, in.queue[1])) || (!classic.empty() && !parse_pair(classic, in.queue[0]))) {
		fmt::print(stderr, "error: --l4s and --classic take P50,P99 in ms, e.g. --l4s 0.4,2.1\n");
		return 2;
	}
	in.utilisation = utilisation;
	in.jain = jain;
	in.rate_balance = balance;
	fmt::print("{}\n", experience::objective_line(in, objective));
	return 0;
}
