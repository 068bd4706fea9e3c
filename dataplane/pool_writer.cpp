#include "dataplane/pool_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>

namespace dualpilot::dataplane {

namespace {

std::string os_error(const std::string &path, const char *what)
{
	return path + ": " + what + ": " + std::strerror(errno);
}

// Writes all of bytes to fd (short writes and EINTR retried).
[[nodiscard]] bool write_all(int fd, const std::string &bytes)
{
	size_t done = 0;
	while (done < bytes.size()) {
		const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += static_cast<size_t>(n);
	}
	return true;
}

// Renames without replacing: RENAME_NOREPLACE, or on a filesystem without it
// a hard link and an unlink (equally atomic for a reader of the name).
int rename_noreplace(const std::string &from, const std::string &to)
{
	if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (::link(from.c_str(), to.c_str()) != 0)
		return -1;
	::unlink(from.c_str());
	return 0;
}

} // namespace

std::string pool_file_name(const std::string &router, uint32_t port, std::time_t start_utc, uint64_t seq)
{
	std::tm tm{};
	::gmtime_r(&start_utc, &tm);
	char when[32];
	std::strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	return fmt::format("{}-port{}-{}-{:06}.dpp", router, port, when, seq);
}

std::string PoolRotator::start(const PoolRotation &cfg, size_t ports, const std::string &reward_definition)
{
	if (running())
		return "pool rotation already started";
	if (cfg.dir.empty())
		return "pool_out: no directory given";
	if (::mkdir(cfg.dir.c_str(), 0755) != 0 && errno != EEXIST)
		return os_error(cfg.dir, "cannot make the pool directory");
	struct stat st{};
	if (::stat(cfg.dir.c_str(), &st) != 0)
		return os_error(cfg.dir, "cannot use the pool directory");
	if (!S_ISDIR(st.st_mode))
		return cfg.dir + ": not a directory (with pool_rotate or pool_rotate_time, pool_out names a directory)";
	if (::access(cfg.dir.c_str(), W_OK | X_OK) != 0)
		return os_error(cfg.dir, "cannot write into the pool directory");
	cfg_ = cfg;
	reward_definition_ = reward_definition;
	const uint64_t header = experience::pool_binary_bytes(0), per_entry = experience::pool_binary_bytes(1) - header;
	max_pool_entries_ = std::max<uint64_t>(cfg.max_entries, 1);
	if (cfg.max_bytes)
		max_pool_entries_ = std::min(max_pool_entries_,
					     cfg.max_bytes > header + per_entry ? (cfg.max_bytes - header) / per_entry : 1);
	open_.assign(ports, Open{});
	for (Open &o : open_)
		reset(o);
	stopping_ = false;
	thread_ = std::thread([this] { writer_loop(); });
	return {};
}

bool PoolRotator::add(uint32_t port, const std::array<float, experience::kFeatureCount> &state, uint8_t action,
		      float reward, uint64_t now_ns)
{
	if (port >= open_.size()) {
		dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
		return false;
	}
	Open &o = open_[port];
	if (o.pool.size() == 0) {
		o.first_ns = now_ns;
		o.first_utc = std::time(nullptr);
	}
	o.pool.add(state, action, reward, false);
	entries_.store(entries_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
	if (o.pool.size() >= max_pool_entries_)
		close(static_cast<uint32_t>(port));
	return true;
}

void PoolRotator::tick(uint64_t now_ns)
{
	if (!cfg_.max_age_ns)
		return;
	for (size_t p = 0; p < open_.size(); p++)
		if (open_[p].pool.size() > 0 && now_ns - open_[p].first_ns >= cfg_.max_age_ns)
			close(static_cast<uint32_t>(p));
}

// A fresh pool, its room reserved (address space only until it fills) so
// that filling it never copies it on the policy lcore; past kReserveEntries
// it grows as a vector does.
void PoolRotator::reset(Open &o) const
{
	constexpr uint64_t kReserveEntries = 1u << 20; // 38 MB of address space
	const size_t n = static_cast<size_t>(std::min(max_pool_entries_, kReserveEntries));
	o.pool = experience::Pool{};
	o.pool.reward_definition = reward_definition_;
	o.pool.states.reserve(n * experience::kFeatureCount);
	o.pool.actions.reserve(n);
	o.pool.rewards.reserve(n);
	o.pool.dones.reserve(n);
}

// Moves port's pool to the writer. The file is one episode: its last entry
// ends it. When the writer already has more than max_entries waiting (a slow
// or full disk), the pool is dropped and counted rather than held, except at
// exit.
void PoolRotator::close(uint32_t port, bool at_exit)
{
	Open &o = open_[port];
	Closed c{port, o.first_utc, std::move(o.pool)};
	if (at_exit)
		o.pool = experience::Pool{};
	else
		reset(o);
	if (c.pool.size() == 0)
		return;
	c.pool.dones.back() = 1;
	const uint64_t n = c.pool.size();
	if (queued_entries_.load(std::memory_order_relaxed) > cfg_.max_entries && !at_exit) {
		dropped_.store(dropped_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
		return;
	}
	queued_entries_.fetch_add(n, std::memory_order_relaxed);
	{
		std::lock_guard lock(mutex_);
		queue_.push_back(std::move(c));
	}
	wake_.notify_one();
}

void PoolRotator::writer_loop()
{
	for (;;) {
		std::unique_lock lock(mutex_);
		wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
		if (queue_.empty())
			return; // stopping, and everything is written
		Closed c = std::move(queue_.front());
		queue_.pop_front();
		lock.unlock();
		write_one(c);
	}
}

void PoolRotator::write_one(Closed &c)
{
	const uint64_t n = c.pool.size();
	std::string name;
	const std::string err = write_atomically(experience::encode_pool_binary(c.pool), c.port, c.first_utc, name);
	queued_entries_.fetch_sub(n, std::memory_order_relaxed);
	std::lock_guard lock(mutex_);
	if (err.empty()) {
		stats_.files++;
		stats_.entries_written += n;
		return;
	}
	stats_.failed_files++;
	stats_.failed_entries += n;
	stats_.last_error = err;
	fmt::print(stderr, "experience pool: {} ({} entries of port {} lost)\n", err, n, c.port);
}

// Temporary name, write, fsync, rename (never over an existing file: the next
// sequence number instead), fsync the directory so the name survives a crash.
std::string PoolRotator::write_atomically(const std::string &bytes, uint32_t port, std::time_t first_utc,
					  std::string &name)
{
	for (int attempt = 0; attempt < 1000; attempt++) {
		name = pool_file_name(cfg_.router, port, first_utc, seq_++);
		const std::string path = cfg_.dir + "/" + name, tmp = cfg_.dir + "/." + name + ".tmp";
		const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && errno == EEXIST)
			continue; // a stale temporary file of a run that crashed in the same second
		if (fd < 0)
			return os_error(tmp, "cannot create");
		if (!write_all(fd, bytes) || ::fsync(fd) != 0) {
			std::string err = os_error(tmp, "cannot write");
			::close(fd);
			::unlink(tmp.c_str());
			return err;
		}
		if (::close(fd) != 0) {
			std::string err = os_error(tmp, "cannot write");
			::unlink(tmp.c_str());
			return err;
		}
		if (rename_noreplace(tmp, path) != 0) {
			const bool taken = errno == EEXIST;
			std::string err = os_error(path, "cannot rename the written pool to");
			::unlink(tmp.c_str());
			if (taken)
				continue; // a file of an earlier run in the same second: the next number
			return err;
		}
		const int dir = ::open(cfg_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir < 0)
			return os_error(cfg_.dir, "cannot open the pool directory to sync it");
		const int rc = ::fsync(dir);
		::close(dir);
		if (rc != 0)
			return os_error(cfg_.dir, "cannot sync the pool directory");
		return {};
	}
	return cfg_.dir + ": 1000 file names taken in a row (" + name + "): is another router writing as '" +
	       cfg_.router + "'?";
}

std::string PoolRotator::finish()
{
	if (!running())
		return {};
	for (size_t p = 0; p < open_.size(); p++)
		close(static_cast<uint32_t>(p), true);
	{
		std::lock_guard lock(mutex_);
		stopping_ = true;
	}
	wake_.notify_one();
	thread_.join();
	const PoolRotatorStats s = stats();
	if (!s.failed_files)
		return {};
	return fmt::format("{} pool file(s) ({} entries) could not be written to {}; the last: {}", s.failed_files,
			   s.failed_entries, cfg_.dir, s.last_error);
}

PoolRotatorStats PoolRotator::stats() const
{
	PoolRotatorStats s;
	{
		std::lock_guard lock(mutex_);
		s = stats_;
	}
	s.entries = entries_.load(std::memory_order_relaxed);
	s.dropped = dropped_.load(std::memory_order_relaxed);
	return s;
}

} // namespace dualpilot::dataplane
