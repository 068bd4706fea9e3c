// A restricted reader of Python pickles (protocols 0 to 5), for the paper's
// experience pools. It interprets the pickle opcodes into a tree of plain
// values and runs nothing: a pickle names the callables it wants (GLOBAL,
// STACK_GLOBAL) and this reader admits a short list of them by name, each
// evaluated here in C++ the way Python would for the arguments a pool holds:
//
//   <any module>.ExperiencePool       the pool object (its state: a dict)
//   copyreg._reconstructor, builtins.object (protocols 0 and 1 objects)
//   numpy.ndarray, numpy.dtype        arrays of bool, int and float, any
//   numpy[._]core.multiarray._reconstruct / .scalar / numeric._frombuffer
//   _codecs.encode(text, "latin1")    bytes as protocol 2 writes them
//
// Every other global is refused by name before anything could call it, so
// a hostile pickle (a REDUCE of os.system, say) is an error, never code run.
// Lengths, shapes and memo indices are checked against the file; values
// live in one arena, so cycles a pickle builds cannot leak or loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dualpilot::sim::pickle {

enum class Kind : uint8_t {
	none,
	boolean,
	integer,
	real,
	text,   // str (and protocol 0-2 byte strings, as latin-1)
	bytes,  // bytes, bytearray
	list,
	tuple,
	dict,
	set,
	array,  // numpy.ndarray of numbers
	dtype,  // numpy.dtype
	global, // an admitted callable or class, by name
	object, // an instance of an admitted class (ExperiencePool)
};

struct Value {
	Kind kind = Kind::none;
	bool boolean = false;
	int64_t integer = 0;
	double real = 0;
	std::string text; // text, bytes, a global's "module.name", an object's class, a dtype's "f4"
	std::vector<Value *> items;                        // list, tuple, set
	std::vector<std::pair<Value *, Value *>> entries;  // dict, in insertion order
	std::vector<int64_t> shape;                        // array
	std::vector<double> numbers;                       // array, row-major
	char byte_order = '<';                             // dtype: '<', '>' or '|'
	Value *dtype = nullptr;                            // array
	Value *state = nullptr;                            // object: what BUILD gave it

	bool is_number() const { return kind == Kind::boolean || kind == Kind::integer || kind == Kind::real; }
	double number() const { return kind == Kind::real ? real : kind == Kind::integer ? static_cast<double>(integer) : boolean; }
	// A dict's (or an object's state dict's) entry under a text key, or null.
	const Value *get(std::string_view key) const;
};

// The values of one pickle; root is what STOP left on the stack.
struct Document {
	std::vector<std::unique_ptr<Value>> arena;
	Value *root = nullptr;
};

// Reads a whole pickle. Error text (with the byte offset and opcode) or empty.
[[nodiscard]] std::string load(std::string_view data, Document &out);

// True when the bytes look like a pickle of protocol 2 or later (0x80 N).
bool looks_like_pickle(std::string_view data);

} // namespace dualpilot::sim::pickle
