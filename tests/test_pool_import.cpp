// Importing the paper's pools: its pickled ExperiencePool files (written
// here by Python itself, in every pickle protocol, with numpy arrays and
// scalars), 7-feature JSON and kernel logs become pool entries with the
// features mapped and total_drops marked absent; truncated and hostile
// pickles are errors and run nothing; a file without a single decision is an
// error naming the formats looked for.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/pickle.hpp"
#include "sim/pool_import.hpp"

namespace dualpilot::sim {
namespace {

namespace fs = std::filesystem;

struct TempDir {
	fs::path path;
	TempDir()
	{
		path = fs::temp_directory_path() / ("dualpilot_import_" + std::to_string(::getpid()) + "_" +
						    ::testing::UnitTest::GetInstance()->current_test_info()->name());
		fs::remove_all(path);
		fs::create_directories(path);
	}
	~TempDir() { fs::remove_all(path); }
	std::string operator/(const std::string &name) const { return (path / name).string(); }
};

// Python with numpy (scripts/python3 finds it: Debian's, where pyenv's
// python3 lacks it; FreeBSD's under /usr/local); empty if none has it.
std::string python()
{
	const std::string py = "'" DUALPILOT_SOURCE_DIR "/scripts/python3'";
	if (std::system((py + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0)
		return py;
	return {};
}

// Runs a Python script; true on exit 0.
bool run_python(const std::string &py, const std::string &script, const std::string &dir)
{
	const std::string file = dir + "/make.py";
	std::ofstream(file) << script;
	return std::system((py + " " + file + " >" + dir + "/py.log 2>&1").c_str()) == 0;
}

std::string read_file(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

// The paper's ExperiencePool as its code defines it, filled with 5
// decisions whose features are on the kernel's scales (probabilities in
// fixed point, 1.0 at 2^31 - 1), pickled with the given protocol.
// `layout`: "arrays" (a list of float32 arrays, numpy scalar actions),
// "matrix" (one 2-D array), "lists" (plain Python lists), "dict" (a dict, no class).
std::string pool_script(const std::string &out, int protocol, const std::string &layout)
{
	return R"(import pickle, numpy as np
class ExperiencePool:
    def __init__(self):
        self.states, self.actions, self.rewards, self.dones = [], [], [], []
P = 2147483647
rows = [[0, 15000, 0.01 * P, 2000, 0.02 * P, 3000, 1500],
        [1, 0, 0.25 * P, 800, 0.5 * P, 1500, 1000],
        [0, 0, 0.5 * P, 30000, 1.0 * P, 60000, 1500],
        [1, 0, 0.05 * P, 100, 0.0, 64, 64],
        [0, 150000, 0.0, 0, 0.0, 0, 1514]]
pool = ExperiencePool()
layout = ")" + layout + R"("
if layout == "matrix":
    pool.states = np.array(rows, dtype=np.float32)
elif layout == "lists":
    pool.states = [[float(x) for x in r] for r in rows]
else:
    pool.states = [np.array(r, dtype=np.float32) for r in rows]
pool.actions = [np.int64(a) for a in [0, 2, 1, 0, 0]] if layout == "arrays" else [0, 2, 1, 0, 0]
pool.rewards = [r[6] / (r[3] + 1000) for r in rows]
pool.dones = [False] * 5
obj = pool.__dict__ if layout == "dict" else pool
with open(")" + out + R"(", "wb") as f:
    pickle.dump(obj, f, protocol=)" + std::to_string(protocol) + R"()
)";
}

void expect_paper_pool(const experience::Pool &pool)
{
	ASSERT_EQ(pool.size(), 5u);
	EXPECT_FALSE(pool.has_feature(6)) << "total_drops is not in the paper's pools";
	EXPECT_TRUE(pool.has_feature(0) && pool.has_feature(5) && pool.has_feature(7));
	const float *s1 = &pool.states[1 * experience::kFeatureCount];
	EXPECT_EQ(s1[0], 1.0f);                 // queue_type
	EXPECT_NEAR(s1[2], 0.25, 1e-6);         // drop_probability, rescaled from fixed point
	EXPECT_EQ(s1[3], 800.0f);               // current_queue_delay
	EXPECT_NEAR(s1[4], 0.5, 1e-6);          // accumulated_probability, rescaled
	EXPECT_EQ(s1[5], 1500.0f);              // length_in_bytes
	EXPECT_EQ(s1[6], 0.0f);                 // total_drops: absent, filled
	EXPECT_EQ(s1[7], 1000.0f);              // packet_length
	EXPECT_EQ(pool.states[0 * experience::kFeatureCount + 1], 15000.0f); // burst_allowance
	EXPECT_EQ(pool.actions, (std::vector<uint8_t>{0, 2, 1, 0, 0}));
	EXPECT_NEAR(pool.rewards[1], 1000.0 / 1800.0, 1e-6); // kept as recorded
	EXPECT_EQ(pool.dones, (std::vector<uint8_t>{0, 0, 0, 0, 1})) << "one file, one episode";
}

// Tests that need Python with numpy to write their pickles; skipped without it.
class PaperPickle : public ::testing::Test {
    protected:
	void SetUp() override
	{
		py = python();
		if (py.empty())
			GTEST_SKIP() << "no python3 with numpy to write the pickles";
	}
	// Runs a script that writes pickles; its output is in py.log.
	void write(const std::string &script) { ASSERT_TRUE(run_python(py, script, dir.path.string())) << read_file(dir / "py.log"); }
	// The standard pool in protocol 4, imported.
	experience::Pool imported(const experience::RewardSpec &reward, bool recompute)
	{
		write(pool_script(dir / "p.pkl", 4, "arrays"));
		experience::Pool pool;
		ImportReport report;
		EXPECT_EQ(import_file(dir / "p.pkl", reward, recompute, pool, report), "");
		return pool;
	}

	std::string py;
	TempDir dir;
};

TEST_F(PaperPickle, PaperPicklesReadInEveryProtocolAndLayout)
{
	for (int protocol = 0; protocol <= 5; protocol++)
		for (const char *layout : {"arrays", "matrix", "lists", "dict"}) {
			SCOPED_TRACE(std::string(layout) + ", protocol " + std::to_string(protocol));
			const std::string file = dir / (std::string(layout) + std::to_string(protocol) + ".pkl");
			ASSERT_TRUE(run_python(py, pool_script(file, protocol, layout), dir.path.string()))
				<< read_file(dir / "py.log");
			experience::Pool pool;
			ImportReport report;
			const std::string err = import_file(file, experience::RewardSpec{1000}, false, pool, report);
			ASSERT_EQ(err, "");
			EXPECT_EQ(report.imported, 5u);
			EXPECT_EQ(report.malformed, 0u);
			expect_paper_pool(pool);
		}
}

TEST_F(PaperPickle, AbsentFeatureSurvivesBothPoolFormats)
{
	const experience::Pool pool = imported(experience::RewardSpec{1000}, false);
	for (const char *ext : {".dpp", ".json"}) {
		const std::string out = dir / (std::string("pool") + ext);
		ASSERT_EQ(experience::write_pool(pool, out), "");
		experience::Pool back;
		ASSERT_EQ(experience::read_pool(out, back), "");
		EXPECT_EQ(back.absent_features, pool.absent_features) << ext;
		EXPECT_EQ(back.states, pool.states) << ext;
	}
}

TEST_F(PaperPickle, RecomputedRewardUsesTheOffset)
{
	const experience::Pool pool = imported(experience::RewardSpec{1}, true);
	ASSERT_EQ(pool.size(), 5u);
	EXPECT_NEAR(pool.rewards[1], 1000.0 / 801.0, 1e-5);
}

TEST_F(PaperPickle, CorruptEntriesAreSkippedAndCounted)
{
	const std::string file = dir / "bad.pkl";
	ASSERT_TRUE(run_python(py, R"(import pickle, numpy as np
class ExperiencePool: pass
p = ExperiencePool()
p.states = [np.zeros(7, np.float32), np.array([1, 2, 3], np.float32), np.full(7, np.nan, np.float32), np.ones(7, np.float32), np.ones(7, np.float32)]
p.actions = [0, 0, 0, 7, 1]
p.rewards = [1.0, 1.0, 1.0, 1.0, 1.0]
p.dones = [0, 0, 0, 0, 0]
pickle.dump(p, open(")" + file + R"(", "wb"))
)",
			       dir.path.string()));
	experience::Pool pool;
	ImportReport report;
	ASSERT_EQ(import_file(file, experience::RewardSpec{1000}, false, pool, report), "");
	EXPECT_EQ(pool.size(), 2u);
	EXPECT_EQ(report.malformed, 3u);
	ASSERT_EQ(report.errors.size(), 3u);
	EXPECT_NE(report.errors[0].find("entry 1"), std::string::npos) << report.errors[0];
	EXPECT_NE(report.errors[1].find("entry 2"), std::string::npos) << report.errors[1];
	EXPECT_NE(report.errors[2].find("action 7"), std::string::npos) << report.errors[2];
}

TEST_F(PaperPickle, TruncatedPickleIsAnErrorAtItsEnd)
{
	write(pool_script(dir / "whole.pkl", 4, "arrays"));
	const std::string whole = read_file(dir / "whole.pkl");
	for (size_t cut : {whole.size() / 3, whole.size() / 2, whole.size() - 1}) {
		std::ofstream(dir / "cut.pkl", std::ios::binary) << whole.substr(0, cut);
		experience::Pool pool;
		ImportReport report;
		const std::string err = import_file(dir / "cut.pkl", experience::RewardSpec{1000}, false, pool, report);
		EXPECT_NE(err.find("cut.pkl: not a pool pickle"), std::string::npos) << err;
		EXPECT_EQ(pool.size(), 0u);
	}
}

TEST_F(PaperPickle, HostilePicklesAreRefusedAndRunNothing)
{
	const std::string witness = dir / "witness";
	// Each payload would create the witness file if anything ran it.
	const std::vector<std::pair<std::string, std::string>> payloads = {
		{"os.system", "import os\nclass E:\n    def __reduce__(self): return (os.system, ('touch " + witness + "',))"},
		{"builtins.eval", "class E:\n    def __reduce__(self): return (eval, (\"open('" + witness + "', 'w')\",))"},
		{"subprocess.Popen", "import subprocess\nclass E:\n    def __reduce__(self): return (subprocess.Popen, (['touch', '" +
					     witness + "'],))"},
		// Hidden inside an otherwise good pool, as one of the actions.
		{"os.system", "import os\nclass X:\n    def __reduce__(self): return (os.system, ('touch " + witness +
				      "',))\nclass ExperiencePool: pass\ndef E():\n    p = ExperiencePool()\n    p.states = [[0.0] * 7]\n    "
				      "p.actions = [X()]\n    p.rewards = [0.0]\n    p.dones = [0]\n    return p"},
	};
	for (const auto &[global, code] : payloads)
		for (int protocol : {0, 2, 4}) {
			SCOPED_TRACE(global + ", protocol " + std::to_string(protocol));
			const std::string file = dir / "evil.pkl";
			ASSERT_TRUE(run_python(py, "import pickle\n" + code + "\nobj = E()\npickle.dump(obj, open('" + file +
							   "', 'wb'), protocol=" + std::to_string(protocol) + ")\n",
					       dir.path.string()))
				<< read_file(dir / "py.log");
			ASSERT_FALSE(fs::exists(witness)) << "writing the pickle must not run it";
			experience::Pool pool;
			ImportReport report;
			const std::string err = import_file(file, experience::RewardSpec{1000}, false, pool, report);
			const std::string module = global.substr(0, global.find('.'));
			EXPECT_NE(err.find("refused global"), std::string::npos) << err;
			EXPECT_NE(err.find(global.substr(global.find('.') + 1)), std::string::npos) << err;
			EXPECT_FALSE(fs::exists(witness)) << "the import ran the payload";
			EXPECT_EQ(pool.size(), 0u);
		}
}

TEST(PoolImport, PaperJsonWithSevenFeatures)
{
	TempDir dir;
	const std::string file = dir / "paper.json";
	std::ofstream(file) << R"({"states": [[0, 0, 0.1, 2000, 0.2, 3000, 1500], [1, 0, 0.3, 500, 0.1, 1500, 1000]],
		"actions": [1, 2], "rewards": [0.5, 0.66], "dones": [0, 1]})";
	experience::Pool pool;
	ImportReport report;
	ASSERT_EQ(import_file(file, experience::RewardSpec{1000}, false, pool, report), "");
	ASSERT_EQ(pool.size(), 2u);
	EXPECT_FALSE(pool.has_feature(6));
	EXPECT_NEAR(pool.states[2], 0.1, 1e-6) << "probabilities already in 0..1 are kept";
	EXPECT_EQ(pool.states[experience::kFeatureCount + 7], 1000.0f);
	EXPECT_EQ(pool.actions, (std::vector<uint8_t>{1, 2}));
	// The training reader points a 7-feature file at the importer.
	experience::Pool direct;
	const std::string err = experience::read_pool(file, direct);
	EXPECT_NE(err.find("dualpilot-pool import"), std::string::npos) << err;
}

TEST(PoolImport, FileWithoutDecisionsIsAnErrorNamingTheFormats)
{
	TempDir dir;
	const std::string text = dir / "passwd";
	std::ofstream(text) << "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";
	const std::string empty = dir / "empty.log";
	std::ofstream(empty) << "";
	for (const std::string &file : {text, empty}) {
		experience::Pool pool;
		ImportReport report;
		const std::string err = import_file(file, experience::RewardSpec{1000}, false, pool, report);
		EXPECT_NE(err.find(file + ": no pool records found"), std::string::npos) << err;
		EXPECT_NE(err.find("pickle"), std::string::npos) << err;
		EXPECT_NE(err.find("l4s_ecn_marking-start"), std::string::npos) << err;
	}
	// An empty pickled pool: no decisions either.
	const std::string py = python();
	if (py.empty())
		return;
	ASSERT_TRUE(run_python(py, "import pickle\npickle.dump({'states': [], 'actions': [], 'rewards': [], 'dones': []}, open('" +
					   (dir / "none.pkl") + "', 'wb'))\n",
			       dir.path.string()));
	experience::Pool pool;
	ImportReport report;
	const std::string err = import_file(dir / "none.pkl", experience::RewardSpec{1000}, false, pool, report);
	EXPECT_NE(err.find("no decisions"), std::string::npos) << err;
}

TEST(Pickle, ReaderRefusesWhatAPoolNeverHolds)
{
	pickle::Document doc;
	// GLOBAL 'os\nsystem\n' in protocol 0: refused before any REDUCE.
	EXPECT_NE(pickle::load("cos\nsystem\n(S'true'\ntR.", doc).find("refused global os.system"), std::string::npos);
	// Persistent ids, extension codes and out-of-band buffers name nothing checkable.
	EXPECT_NE(pickle::load("\x80\x05\x97.", doc).find("out-of-band"), std::string::npos);
	EXPECT_NE(pickle::load(std::string("\x80\x02\x82\x01.", 5), doc).find("extension"), std::string::npos);
	EXPECT_NE(pickle::load("(S'x'\nP.", doc).find("persistent"), std::string::npos);
	// Two pickles in one file are not one pool.
	EXPECT_NE(pickle::load("N.N.", doc).find("after STOP"), std::string::npos);
	// A memo reference to nothing, a length past the end.
	EXPECT_NE(pickle::load("\x80\x02h\x07.", doc).find("memo"), std::string::npos);
	EXPECT_NE(pickle::load("\x80\x02X\xff\xff\xff\x7f", doc).find("past the end"), std::string::npos);
	// A list that contains itself loads (no loop, no leak under ASan).
	ASSERT_EQ(pickle::load(std::string("\x80\x02]q\x00" "h\x00" "a.", 9), doc), "");
	EXPECT_EQ(doc.root->items.size(), 1u);
	EXPECT_EQ(doc.root->items[0], doc.root);
}

} // namespace
} // namespace dualpilot::sim
