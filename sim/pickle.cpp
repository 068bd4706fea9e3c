#include "sim/pickle.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace dualpilot::sim::pickle {

const Value *Value::get(std::string_view key) const
{
	const Value *dict = this;
	if (kind == Kind::object)
		dict = state;
	if (!dict || dict->kind != Kind::dict)
		return nullptr;
	for (const auto &[k, v] : dict->entries)
		if ((k->kind == Kind::text || k->kind == Kind::bytes) && k->text == key)
			return v;
	return nullptr;
}

bool looks_like_pickle(std::string_view data)
{
	return data.size() >= 2 && static_cast<uint8_t>(data[0]) == 0x80 && static_cast<uint8_t>(data[1]) >= 2 &&
	       static_cast<uint8_t>(data[1]) <= 5;
}

namespace {

struct Refused : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// The numpy module paths of numpy 1.x and 2.x.
bool numpy_core(std::string_view module, std::string_view sub)
{
	return module == std::string("numpy.core.").append(sub) || module == std::string("numpy._core.").append(sub);
}

bool is_pool_class(std::string_view name)
{
	constexpr std::string_view kClass = "ExperiencePool";
	return name == kClass || (name.size() > kClass.size() && name.substr(name.size() - kClass.size()) == kClass &&
				  name[name.size() - kClass.size() - 1] == '.');
}

// The globals a pool pickle needs, and nothing else.
bool admitted(std::string_view module, std::string_view name)
{
	if (name == "ExperiencePool")
		return true;
	if ((module == "copyreg" || module == "copy_reg") && name == "_reconstructor")
		return true;
	if ((module == "builtins" || module == "__builtin__") && name == "object")
		return true;
	if (module == "numpy" && (name == "ndarray" || name == "dtype"))
		return true;
	if (numpy_core(module, "multiarray") && (name == "_reconstruct" || name == "scalar"))
		return true;
	if (numpy_core(module, "numeric") && name == "_frombuffer")
		return true;
	return module == "_codecs" && name == "encode";
}

// A numpy dtype's descriptor ("f4", "<i8", "b1", "?") as kind and size.
bool parse_descr(std::string_view d, char &kind, int &size)
{
	if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '='))
		d.remove_prefix(1);
	if (d == "?") {
		kind = 'b';
		size = 1;
		return true;
	}
	if (d.size() < 2)
		return false;
	kind = d[0];
	const auto [end, ec] = std::from_chars(d.data() + 1, d.data() + d.size(), size);
	if (ec != std::errc() || end != d.data() + d.size())
		return false;
	switch (kind) {
	case 'f': return size == 2 || size == 4 || size == 8;
	case 'i':
	case 'u': return size == 1 || size == 2 || size == 4 || size == 8;
	case 'b': return size == 1;
	default: return false;
	}
}

double half_to_double(uint16_t h)
{
	const int exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
	const double sign = (h & 0x8000) ? -1.0 : 1.0;
	if (exp == 0)
		return sign * std::ldexp(frac, -24);
	if (exp == 31)
		return frac ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
	return sign * std::ldexp(frac + 1024, exp - 25);
}

// One element of kind/size at p, in the given byte order.
double decode_element(const char *p, char kind, int size, char order)
{
	unsigned char b[8];
	std::memcpy(b, p, static_cast<size_t>(size));
	if (order == '>')
		for (int i = 0; i < size / 2; i++)
			std::swap(b[i], b[size - 1 - i]);
	uint64_t u = 0;
	for (int i = size - 1; i >= 0; i--)
		u = (u << 8) | b[i];
	switch (kind) {
	case 'f':
		if (size == 2)
			return half_to_double(static_cast<uint16_t>(u));
		if (size == 4) {
			float f;
			const auto u32 = static_cast<uint32_t>(u);
			std::memcpy(&f, &u32, 4);
			return f;
		} else {
			double d;
			std::memcpy(&d, &u, 8);
			return d;
		}
	case 'i': {
		const int shift = 64 - 8 * size;
		return static_cast<double>(static_cast<int64_t>(u << shift) >> shift);
	}
	case 'b': return u != 0;
	default: return static_cast<double>(u);
	}
}

class Machine {
    public:
	Machine(std::string_view data, Document &doc) : data_(data), doc_(doc) {}
	void run();

    private:
	std::string_view data_;
	Document &doc_;
	size_t pos_ = 0, op_at_ = 0;
	uint8_t op_ = 0;
	std::vector<Value *> stack_;
	std::vector<size_t> marks_;
	std::unordered_map<uint64_t, Value *> memo_;

	[[noreturn]] void fail(const std::string &what) const
	{
		char op[8];
		std::snprintf(op, sizeof(op), "0x%02x", op_);
		throw Refused("byte " + std::to_string(op_at_) + " (opcode " + op + "): " + what);
	}
	Value *make(Kind k)
	{
		doc_.arena.push_back(std::make_unique<Value>());
		doc_.arena.back()->kind = k;
		return doc_.arena.back().get();
	}
	std::string_view take(uint64_t n)
	{
		if (n > data_.size() - pos_)
			fail("a length of " + std::to_string(n) + " runs past the end of the file (truncated?)");
		const std::string_view s = data_.substr(pos_, n);
		pos_ += n;
		return s;
	}
	uint64_t le(int bytes)
	{
		const std::string_view s = take(static_cast<uint64_t>(bytes));
		uint64_t v = 0;
		for (int i = bytes - 1; i >= 0; i--)
			v = (v << 8) | static_cast<uint8_t>(s[static_cast<size_t>(i)]);
		return v;
	}
	std::string_view line()
	{
		const size_t nl = data_.find('\n', pos_);
		if (nl == std::string_view::npos)
			fail("a text argument has no end of line (truncated?)");
		std::string_view s = data_.substr(pos_, nl - pos_);
		pos_ = nl + 1;
		if (!s.empty() && s.back() == '\r')
			s.remove_suffix(1);
		return s;
	}
	Value *pop()
	{
		if (stack_.size() <= (marks_.empty() ? 0 : marks_.back()))
			fail("the stack is empty");
		Value *v = stack_.back();
		stack_.pop_back();
		return v;
	}
	Value *top()
	{
		if (stack_.size() <= (marks_.empty() ? 0 : marks_.back()))
			fail("the stack is empty");
		return stack_.back();
	}
	std::vector<Value *> pop_mark()
	{
		if (marks_.empty())
			fail("no MARK to pop to");
		const size_t m = marks_.back();
		marks_.pop_back();
		std::vector<Value *> items(stack_.begin() + static_cast<long>(m), stack_.end());
		stack_.resize(m);
		return items;
	}
	void push(Value *v) { stack_.push_back(v); }
	Value *text(std::string s, Kind k = Kind::text)
	{
		Value *v = make(k);
		v->text = std::move(s);
		return v;
	}
	Value *integer(int64_t i)
	{
		Value *v = make(Kind::integer);
		v->integer = i;
		return v;
	}
	int64_t long_bytes(std::string_view s)
	{
		if (s.empty())
			return 0;
		// Two's complement, little-endian: longer than 8 bytes only as sign extension.
		const bool negative = static_cast<uint8_t>(s.back()) & 0x80;
		for (size_t i = 8; i < s.size(); i++)
			if (static_cast<uint8_t>(s[i]) != (negative ? 0xff : 0x00))
				fail("an integer wider than 64 bits");
		uint64_t u = negative ? ~0ull : 0;
		const size_t n = std::min<size_t>(s.size(), 8);
		for (size_t i = n; i-- > 0;)
			u = (u << 8) | static_cast<uint8_t>(s[i]);
		if (n < 8 && negative)
			u |= ~0ull << (8 * n);
		return static_cast<int64_t>(u);
	}
	int64_t decimal(std::string_view s)
	{
		if (!s.empty() && s.back() == 'L')
			s.remove_suffix(1);
		if (!s.empty() && s[0] == '+')
			s.remove_prefix(1);
		int64_t v = 0;
		const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
		if (s.empty() || ec != std::errc() || end != s.data() + s.size())
			fail("'" + std::string(s.substr(0, 32)) + "' is not an integer of 64 bits");
		return v;
	}
	static void append_utf8(std::string &out, uint32_t c)
	{
		if (c < 0x80) {
			out += static_cast<char>(c);
		} else if (c < 0x800) {
			out += static_cast<char>(0xc0 | (c >> 6));
			out += static_cast<char>(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out += static_cast<char>(0xe0 | (c >> 12));
			out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
			out += static_cast<char>(0x80 | (c & 0x3f));
		} else {
			out += static_cast<char>(0xf0 | (c >> 18));
			out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
			out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
			out += static_cast<char>(0x80 | (c & 0x3f));
		}
	}
	uint32_t hex(std::string_view s, size_t &i, int digits)
	{
		uint32_t c = 0;
		if (s.size() - i < static_cast<size_t>(digits))
			fail("a truncated escape");
		const auto [end, ec] = std::from_chars(s.data() + i, s.data() + i + digits, c, 16);
		if (ec != std::errc() || end != s.data() + i + digits || c > 0x10ffff)
			fail("a malformed escape");
		i += static_cast<size_t>(digits);
		return c;
	}
	// Protocol 0's STRING: a Python literal in quotes, escapes as repr writes them.
	std::string quoted(std::string_view s)
	{
		if (s.size() < 2 || (s[0] != '\'' && s[0] != '"') || s.back() != s[0])
			fail("a STRING argument is not quoted");
		s = s.substr(1, s.size() - 2);
		std::string out;
		for (size_t i = 0; i < s.size();) {
			if (s[i] != '\\' || i + 1 == s.size()) {
				out += s[i++];
				continue;
			}
			const char e = s[i + 1];
			i += 2;
			switch (e) {
			case 'n': out += '\n'; break;
			case 't': out += '\t'; break;
			case 'r': out += '\r'; break;
			case 'x': out += static_cast<char>(hex(s, i, 2)); break;
			default: out += e; break;
			}
		}
		return out;
	}
	// Protocol 0's UNICODE: raw-unicode-escape (latin-1 bytes, \uXXXX, \UXXXXXXXX).
	std::string raw_unicode(std::string_view s)
	{
		std::string out;
		for (size_t i = 0; i < s.size();) {
			if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
				const int digits = s[i + 1] == 'u' ? 4 : 8;
				i += 2;
				append_utf8(out, hex(s, i, digits));
			} else {
				append_utf8(out, static_cast<uint8_t>(s[i++]));
			}
		}
		return out;
	}

	void admit_global(std::string_view module, std::string_view name)
	{
		if (!admitted(module, name))
			fail("refused global " + std::string(module) + "." + std::string(name) +
			     ": a pool pickle needs only ExperiencePool, numpy arrays, dtypes and scalars, and nothing is "
			     "ever called");
		Value *g = make(Kind::global);
		g->text = std::string(module).append(".").append(name);
		push(g);
	}
	Value *new_object(const Value *cls)
	{
		if (cls->kind != Kind::global || !is_pool_class(cls->text))
			fail("only ExperiencePool objects can be created, not " +
			     (cls->kind == Kind::global ? cls->text : std::string("a non-class")));
		Value *o = make(Kind::object);
		o->text = cls->text;
		return o;
	}
	Value *call(const Value *callable, const std::vector<Value *> &args);
	Value *numpy_scalar(const std::string &name, const Value *dtype, const std::string &raw);
	Value *dtype_of(const std::string &descr)
	{
		char kind;
		int size;
		if (!parse_descr(descr, kind, size))
			fail("numpy dtype '" + descr.substr(0, 16) + "' is not a number type a pool holds");
		Value *d = make(Kind::dtype);
		d->text = std::string(1, kind) + std::to_string(size);
		d->byte_order = !descr.empty() && (descr[0] == '>' || descr[0] == '<') ? descr[0] : '<';
		return d;
	}
	void fill_array(Value *array, const Value *dtype, const Value *shape, const std::string &raw, bool fortran);
	void build(Value *target, Value *state);
	void op();
};

void Machine::fill_array(Value *array, const Value *dtype, const Value *shape, const std::string &raw, bool fortran)
{
	if (!dtype || dtype->kind != Kind::dtype)
		fail("an array without a numpy dtype");
	if (shape->kind != Kind::tuple && shape->kind != Kind::list)
		fail("an array's shape is not a tuple");
	char kind;
	int size;
	parse_descr(dtype->text, kind, size);
	uint64_t count = 1;
	array->shape.clear();
	for (const Value *dim : shape->items) {
		if (dim->kind != Kind::integer || dim->integer < 0)
			fail("an array's shape holds something other than sizes");
		if (dim->integer != 0 && count > (uint64_t{1} << 40) / static_cast<uint64_t>(dim->integer))
			fail("an array's shape is absurd");
		count *= static_cast<uint64_t>(dim->integer);
		array->shape.push_back(dim->integer);
	}
	if (count * static_cast<uint64_t>(size) != raw.size())
		fail("an array of " + std::to_string(count) + " x " + std::to_string(size) + " bytes carries " +
		     std::to_string(raw.size()) + " bytes of data");
	array->dtype = const_cast<Value *>(dtype);
	array->numbers.resize(count);
	for (uint64_t i = 0; i < count; i++)
		array->numbers[i] = decode_element(raw.data() + i * static_cast<uint64_t>(size), kind, size, dtype->byte_order);
	if (fortran && array->shape.size() == 2) { // column-major on the wire: reorder into rows
		const auto rows = static_cast<size_t>(array->shape[0]), cols = static_cast<size_t>(array->shape[1]);
		std::vector<double> c(count);
		for (size_t r = 0; r < rows; r++)
			for (size_t k = 0; k < cols; k++)
				c[r * cols + k] = array->numbers[k * rows + r];
		array->numbers = std::move(c);
	} else if (fortran && array->shape.size() > 2) {
		fail("Fortran-ordered arrays of more than two dimensions are not read");
	}
	array->kind = Kind::array;
}

// numpy.core.multiarray.scalar(dtype, raw): one number of the dtype from its bytes.
Value *Machine::numpy_scalar(const std::string &name, const Value *dtype, const std::string &raw)
{
	char kind;
	int size;
	parse_descr(dtype->text, kind, size);
	if (raw.size() != static_cast<size_t>(size))
		fail(name + ": " + std::to_string(raw.size()) + " bytes for a " + dtype->text);
	const double x = decode_element(raw.data(), kind, size, dtype->byte_order);
	if (kind == 'f') {
		Value *v = make(Kind::real);
		v->real = x;
		return v;
	}
	if (kind == 'b') {
		Value *v = make(Kind::boolean);
		v->boolean = x != 0;
		return v;
	}
	if (kind == 'u' && size == 8 && x >= 9.2e18)
		fail(name + ": an unsigned integer past 2^63");
	return integer(static_cast<int64_t>(x));
}

// _codecs.encode(text, "latin1"): UTF-8 text of code points below 256 to one
// byte each. False where the text has a code point past 255 (or is not
// UTF-8).
bool latin1_of(const std::string &t, std::string &out)
{
	for (size_t i = 0; i < t.size();) {
		const auto c = static_cast<uint8_t>(t[i]);
		if (c < 0x80) {
			out += static_cast<char>(c);
			i++;
		} else if ((c & 0xe0) == 0xc0 && i + 1 < t.size() && c <= 0xc3) {
			out += static_cast<char>(((c & 0x1f) << 6) | (static_cast<uint8_t>(t[i + 1]) & 0x3f));
			i += 2;
		} else {
			return false;
		}
	}
	return true;
}

Value *Machine::call(const Value *callable, const std::vector<Value *> &args)
{
	if (callable->kind != Kind::global)
		fail("REDUCE of something that is not an admitted global");
	const std::string &name = callable->text;
	auto arg = [&](size_t i, Kind k, const char *what) -> Value * {
		if (i >= args.size() || args[i]->kind != k)
			fail(name + ": argument " + std::to_string(i + 1) + " is not " + what);
		return args[i];
	};
	auto raw_data = [&](size_t i) -> const std::string & {
		if (i >= args.size() || (args[i]->kind != Kind::bytes && args[i]->kind != Kind::text))
			fail(name + ": argument " + std::to_string(i + 1) + " is not bytes");
		return args[i]->text;
	};
	if (is_pool_class(name))
		return new_object(callable);
	if (name == "copyreg._reconstructor" || name == "copy_reg._reconstructor") {
		const Value *base = arg(1, Kind::global, "a class");
		if (base->text != "builtins.object" && base->text != "__builtin__.object")
			fail(name + ": only plain objects, not " + base->text);
		return new_object(arg(0, Kind::global, "a class"));
	}
	if (name == "numpy.dtype")
		return dtype_of(raw_data(0));
	if (name.ends_with("multiarray._reconstruct")) {
		if (arg(0, Kind::global, "a class")->text != "numpy.ndarray")
			fail(name + ": only numpy.ndarray");
		Value *a = make(Kind::array); // filled by BUILD
		a->dtype = nullptr;
		return a;
	}
	if (name.ends_with("multiarray.scalar")) {
		const Value *dtype = arg(0, Kind::dtype, "a dtype");
		return numpy_scalar(name, dtype, raw_data(1));
	}
	if (name.ends_with("numeric._frombuffer")) {
		const std::string &raw = raw_data(0);
		const Value *dtype = arg(1, Kind::dtype, "a dtype");
		const Value *shape = arg(2, Kind::tuple, "a shape");
		const Value *order = arg(3, Kind::text, "an order");
		Value *a = make(Kind::array);
		fill_array(a, dtype, shape, raw, order->text == "F");
		return a;
	}
	if (name == "_codecs.encode") {
		const Value *s = arg(0, Kind::text, "text");
		const Value *enc = arg(1, Kind::text, "an encoding");
		if (enc->text != "latin1" && enc->text != "latin-1" && enc->text != "iso-8859-1")
			fail(name + ": only latin1, not '" + enc->text.substr(0, 16) + "'");
		std::string out;
		if (!latin1_of(s->text, out))
			fail(name + ": text that latin1 cannot encode");
		return text(std::move(out), Kind::bytes);
	}
	fail(name + " cannot be called");
}

void Machine::build(Value *target, Value *state)
{
	if (target->kind == Kind::object) {
		// A (dict, slots) pair when the class has __slots__; the dict is what we keep.
		if (state->kind == Kind::tuple && state->items.size() == 2)
			state = state->items[0]->kind == Kind::dict ? state->items[0] : state->items[1];
		if (state->kind != Kind::dict)
			fail("the pool object's state is not a dict");
		target->state = state;
		return;
	}
	if (target->kind == Kind::dtype) {
		if (state->kind != Kind::tuple || state->items.size() < 2 || state->items[1]->kind != Kind::text)
			fail("a numpy dtype's state is not (version, byte order, ...)");
		const std::string &order = state->items[1]->text;
		if (order != "<" && order != ">" && order != "|" && order != "=")
			fail("a numpy dtype's byte order '" + order.substr(0, 4) + "'");
		if (state->items.size() >= 4 && state->items[3]->kind != Kind::none)
			fail("structured numpy dtypes are not read");
		target->byte_order = order == "=" ? '<' : order[0];
		return;
	}
	if (target->kind == Kind::array && target->dtype == nullptr && target->numbers.empty()) {
		// ndarray.__setstate__: (version, shape, dtype, is_fortran, data)
		if (state->kind != Kind::tuple || state->items.size() != 5)
			fail("a numpy array's state is not (version, shape, dtype, fortran, data)");
		const auto &s = state->items;
		if (s[4]->kind != Kind::bytes && s[4]->kind != Kind::text)
			fail("a numpy array of Python objects (only numbers are read)");
		fill_array(target, s[2], s[1], s[4]->text, s[3]->kind == Kind::boolean && s[3]->boolean);
		return;
	}
	fail("BUILD on something other than the pool object, a dtype or an array");
}

void Machine::op()
{
	op_at_ = pos_;
	op_ = static_cast<uint8_t>(take(1)[0]);
	switch (op_) {
	case 0x80: // PROTO
		if (le(1) > 5)
			fail("a pickle protocol past 5");
		break;
	case 0x95: le(8); break; // FRAME: only a read-ahead hint
	case '(': marks_.push_back(stack_.size()); break;
	case '0': pop(); break;
	case '1': pop_mark(); break;
	case '2': push(top()); break;
	case 'N': push(make(Kind::none)); break;
	case 0x88:
	case 0x89: {
		Value *v = make(Kind::boolean);
		v->boolean = op_ == 0x88;
		push(v);
		break;
	}
	case 'I': {
		const std::string_view s = line();
		if (s == "00" || s == "01") {
			Value *v = make(Kind::boolean);
			v->boolean = s == "01";
			push(v);
		} else {
			push(integer(decimal(s)));
		}
		break;
	}
	case 'J': push(integer(static_cast<int32_t>(le(4)))); break;
	case 'K': push(integer(static_cast<int64_t>(le(1)))); break;
	case 'M': push(integer(static_cast<int64_t>(le(2)))); break;
	case 'L': push(integer(decimal(line()))); break;
	case 0x8a: push(integer(long_bytes(take(le(1))))); break;
	case 0x8b: {
		const auto n = static_cast<int32_t>(le(4));
		if (n < 0)
			fail("a negative length");
		push(integer(long_bytes(take(static_cast<uint64_t>(n)))));
		break;
	}
	case 'F': {
		const std::string_view s = line();
		Value *v = make(Kind::real);
		const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v->real);
		if (ec != std::errc() || end != s.data() + s.size())
			fail("'" + std::string(s.substr(0, 32)) + "' is not a float");
		push(v);
		break;
	}
	case 'G': {
		const std::string_view s = take(8);
		uint64_t u = 0;
		for (size_t i = 0; i < 8; i++)
			u = (u << 8) | static_cast<uint8_t>(s[i]); // big-endian
		Value *v = make(Kind::real);
		std::memcpy(&v->real, &u, 8);
		push(v);
		break;
	}
	case 'S': push(text(quoted(line()))); break;
	case 'T': {
		const auto n = static_cast<int32_t>(le(4));
		if (n < 0)
			fail("a negative length");
		push(text(std::string(take(static_cast<uint64_t>(n)))));
		break;
	}
	case 'U': push(text(std::string(take(le(1))))); break;
	case 'V': push(text(raw_unicode(line()))); break;
	case 'X': push(text(std::string(take(le(4))))); break;
	case 0x8c: push(text(std::string(take(le(1))))); break;
	case 0x8d: push(text(std::string(take(le(8))))); break;
	case 'B': push(text(std::string(take(le(4))), Kind::bytes)); break;
	case 'C': push(text(std::string(take(le(1))), Kind::bytes)); break;
	case 0x8e:
	case 0x96: push(text(std::string(take(le(8))), Kind::bytes)); break;
	case ']': push(make(Kind::list)); break;
	case ')': push(make(Kind::tuple)); break;
	case '}': push(make(Kind::dict)); break;
	case 0x8f: push(make(Kind::set)); break;
	case 'l':
	case 't':
	case 0x91: {
		Value *v = make(op_ == 'l' ? Kind::list : op_ == 't' ? Kind::tuple : Kind::set);
		v->items = pop_mark();
		push(v);
		break;
	}
	case 0x85:
	case 0x86:
	case 0x87: {
		Value *v = make(Kind::tuple);
		v->items.resize(op_ - 0x84u);
		for (size_t i = v->items.size(); i-- > 0;)
			v->items[i] = pop();
		push(v);
		break;
	}
	case 'a': {
		Value *item = pop();
		Value *list = top();
		if (list->kind != Kind::list)
			fail("APPEND to something that is not a list");
		list->items.push_back(item);
		break;
	}
	case 'e':
	case 0x90: {
		std::vector<Value *> items = pop_mark();
		Value *target = top();
		if (target->kind != (op_ == 'e' ? Kind::list : Kind::set))
			fail(op_ == 'e' ? "APPENDS to something that is not a list" : "ADDITEMS to something that is not a set");
		target->items.insert(target->items.end(), items.begin(), items.end());
		break;
	}
	case 'd':
	case 'u': {
		std::vector<Value *> items = pop_mark();
		if (items.size() % 2)
			fail("an odd number of keys and values");
		Value *dict = op_ == 'd' ? make(Kind::dict) : top();
		if (dict->kind != Kind::dict)
			fail("SETITEMS on something that is not a dict");
		for (size_t i = 0; i < items.size(); i += 2)
			dict->entries.emplace_back(items[i], items[i + 1]);
		if (op_ == 'd')
			push(dict);
		break;
	}
	case 's': {
		Value *value = pop(), *key = pop();
		Value *dict = top();
		if (dict->kind != Kind::dict)
			fail("SETITEM on something that is not a dict");
		dict->entries.emplace_back(key, value);
		break;
	}
	case 'g':
	case 'h':
	case 'j': {
		const uint64_t key = op_ == 'g' ? static_cast<uint64_t>(decimal(line())) : le(op_ == 'h' ? 1 : 4);
		const auto it = memo_.find(key);
		if (it == memo_.end())
			fail("memo entry " + std::to_string(key) + " was never stored");
		push(it->second);
		break;
	}
	case 'p':
	case 'q':
	case 'r':
	case 0x94: {
		const uint64_t key = op_ == 'p'   ? static_cast<uint64_t>(decimal(line()))
				     : op_ == 0x94 ? memo_.size()
						   : le(op_ == 'q' ? 1 : 4);
		memo_[key] = top();
		break;
	}
	case 'c': {
		const std::string module(line());
		const std::string name(line());
		admit_global(module, name);
		break;
	}
	case 0x93: {
		Value *name = pop(), *module = pop();
		if (name->kind != Kind::text || module->kind != Kind::text)
			fail("STACK_GLOBAL of something that is not text");
		admit_global(module->text, name->text);
		break;
	}
	case 'R': {
		Value *args = pop();
		Value *callable = pop();
		if (args->kind != Kind::tuple)
			fail("REDUCE's arguments are not a tuple");
		push(call(callable, args->items));
		break;
	}
	case 0x81:
	case 0x92: {
		if (op_ == 0x92)
			pop(); // keyword arguments: an ExperiencePool takes none that matter
		Value *args = pop();
		Value *cls = pop();
		if (args->kind != Kind::tuple)
			fail("NEWOBJ's arguments are not a tuple");
		push(new_object(cls));
		break;
	}
	case 'i': { // INST: module, name, then the arguments since the MARK
		const std::string module(line());
		const std::string name(line());
		admit_global(module, name);
		Value *cls = pop();
		std::vector<Value *> args = pop_mark();
		push(call(cls, args));
		break;
	}
	case 'o': { // OBJ: the class and its arguments since the MARK
		std::vector<Value *> items = pop_mark();
		if (items.empty())
			fail("OBJ without a class");
		Value *cls = items[0];
		items.erase(items.begin());
		push(call(cls, items));
		break;
	}
	case 'b': {
		Value *state = pop();
		build(top(), state);
		break;
	}
	case 'P':
	case 'Q': fail("persistent ids refer to objects outside the file: not read");
	case 0x82:
	case 0x83:
	case 0x84: fail("extension-registry codes name globals this reader cannot check: not read");
	case 0x97: fail("an out-of-band buffer (NEXT_BUFFER): the data is not in the file");
	case 0x98: top(); break; // READONLY_BUFFER: nothing to change in-band
	default: fail("not a pickle opcode");
	}
}

void Machine::run()
{
	while (true) {
		if (pos_ >= data_.size()) {
			op_at_ = pos_;
			op_ = 0;
			fail("the file ends before STOP (truncated?)");
		}
		if (static_cast<uint8_t>(data_[pos_]) == '.') {
			op_at_ = pos_++;
			op_ = '.';
			if (stack_.empty() || !marks_.empty())
				fail(stack_.empty() ? "STOP with nothing on the stack" : "STOP inside an open MARK");
			doc_.root = stack_.back();
			if (pos_ != data_.size())
				fail(std::to_string(data_.size() - pos_) + " bytes after STOP (more than one pickle in the file?)");
			return;
		}
		op();
	}
}

} // namespace

std::string load(std::string_view data, Document &out)
{
	out = Document{};
	try {
		Machine(data, out).run();
	} catch (const Refused &e) {
		out = Document{};
		return e.what();
	} catch (const std::bad_alloc &) {
		out = Document{};
		return "out of memory";
	}
	return {};
}

} // namespace dualpilot::sim::pickle
