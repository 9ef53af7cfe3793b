"""The chunker: symbol chunks per language, module/section/window chunks, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from codanna_desktop.core.chunking import languages
from codanna_desktop.core.chunking.chunker import Chunker
from codanna_desktop.core.chunking.chunks import Chunk
from codanna_desktop.core.chunking.languages import (
    GRAMMAR_LANGUAGES,
    Grammar,
    detect_language,
    load_language,
)

PYTHON = '''\
"""HTTP client."""
import socket

DEFAULT_TIMEOUT = 30


# Decides how often to retry.
@functools.cache
def retry_count(attempts: int) -> int:
    """How many times to retry."""
    return min(attempts, 5)


class HTTPConnection(BaseConnection):
    """One connection to a server."""

    default_port = 80

    def __init__(self, host: str) -> None:
        self.host = host

    # Sends one request.
    @traced
    def request(self, method: str, url: str) -> bytes:
        """Send a request and return the body."""
        return self._send(method, url)

    class Pool:
        size = 4

        def acquire(self):
            return None


if __name__ == "__main__":
    print(retry_count(3))
'''

JAVASCRIPT = """\
import { api } from "./api.js";

/**
 * Fetches one user.
 */
export async function fetchUser(id) {
  return api.get(`/users/${id}`);
}

const formatName = (user) => `${user.first} ${user.last}`;

export class UserStore extends Store {
  users = new Map();

  /** Adds a user. */
  add(user) {
    this.users.set(user.id, user);
  }

  onChange = () => {
    this.emit("change");
  };
}
"""

TYPESCRIPT = """\
import type { Request } from "express";

/** A shape with an area. */
export interface Shape {
  area(): number;
}

export enum Color {
  Red,
  Green,
}

@Injectable()
export class Circle implements Shape {
  constructor(private radius: number) {}

  /** The area of the circle. */
  area(): number {
    return Math.PI * this.radius ** 2;
  }
}

export function parse(req: Request): Shape {
  return new Circle(Number(req.query.r));
}
"""

TSX = """\
import React from "react";

type Props = { name: string };

/** Greets someone. */
export function Greeting({ name }: Props) {
  return <h1 className="greeting">Hello, {name}</h1>;
}

export const Farewell = ({ name }: Props) => {
  return <p>Bye {name}</p>;
};
"""

GO = """\
package server

import "net/http"

// Server answers HTTP requests.
type Server struct {
	Addr    string
	Handler http.Handler
}

// Serve listens and serves until stopped.
func (s *Server) Serve() error {
	return http.ListenAndServe(s.Addr, s.Handler)
}

func (s Server) Name() string { return s.Addr }

// New makes a server.
func New(addr string) *Server {
	return &Server{Addr: addr}
}
"""

RUST = """\
use std::fmt;

/// A point on the plane.
#[derive(Debug, Clone)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const ORIGIN: Point = Point { x: 0.0, y: 0.0 };

    /// Distance to another point.
    pub fn distance(&self, other: &Point) -> f64 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2)).sqrt()
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

pub trait Shape {
    fn area(&self) -> f64;

    fn describe(&self) -> String {
        format!("area {}", self.area())
    }
}

fn main() {
    println!("{}", Point::ORIGIN);
}
"""

JAVA = """\
package shop;

import java.util.List;

/**
 * A shopping cart.
 */
@Entity
public class Cart {
    private final List<Item> items;

    /** Makes an empty cart. */
    public Cart() {
        this.items = new ArrayList<>();
    }

    @Override
    public String toString() {
        return "Cart" + items;
    }

    interface Listener {
        void changed(Cart cart);
    }
}
"""

C = """\
#include <stdlib.h>

/* A growable buffer. */
typedef struct {
    char *data;
    size_t len;
} buffer_t;

struct point {
    int x, y;
};

/* Appends one byte, growing the buffer. */
static int buffer_push(buffer_t *b, char c)
{
    b->data[b->len++] = c;
    return 0;
}

char *buffer_take(buffer_t *b) { return b->data; }
"""

CPP = """\
#include <string>

namespace net {

/// One TCP connection.
class Connection {
public:
    explicit Connection(int fd);
    /// Sends bytes.
    int send(const std::string& bytes) {
        return write(fd_, bytes.data(), bytes.size());
    }

private:
    int fd_;
};

int Connection::receive(char* buf) {
    return read(fd_, buf, 4096);
}

}  // namespace net

void net::Connection::close() {
    ::close(fd_);
}
"""

CSHARP = """\
using System;

namespace Shop.Orders
{
    /// <summary>An order.</summary>
    [Serializable]
    public class Order
    {
        private readonly int _id;

        public Order(int id)
        {
            _id = id;
        }

        /// <summary>Ships the order.</summary>
        [Obsolete("use ShipAsync")]
        public void Ship()
        {
            Console.WriteLine(_id);
        }
    }

    public interface IShippable
    {
        void Ship();
    }
}
"""

RUBY = """\
require "json"

# Shopping things.
module Shop
  # A cart holds items.
  class Cart < Base
    attr_reader :items

    # Adds an item.
    def add(item)
      @items << item
    end

    def self.build
      new
    end
  end
end

def helper
  Shop::Cart.build
end
"""

PHP = """\
<?php
namespace App\\Models;

use Illuminate\\Database\\Eloquent\\Model;

/**
 * A registered user.
 */
#[Table("users")]
class User extends Model
{
    protected $fillable = ['name'];

    /** The display name. */
    public function displayName(): string
    {
        return ucfirst($this->name);
    }

    abstract protected function roles(): array;
}

function slugify(string $text): string
{
    return strtolower($text);
}
"""

BASH = """\
#!/usr/bin/env bash
set -euo pipefail

# Prints a greeting.
greet() {
  echo "hello $1"
}

function build {
  make -j2 all
}

greet world
build
"""

MARKDOWN = """\
Intro line before any heading.

# Codanna

Search code.

## Install

```sh
# not a heading
pip install codanna
```

Usage
-----

Run it.
"""

TOML = "\n".join(f'key_{i} = "value {i}"' for i in range(90)) + "\n"

# (path, text) of one small file per language the chunker treats differently.
SAMPLES: dict[str, tuple[str, str]] = {
    "python": ("http/client.py", PYTHON),
    "javascript": ("web/users.js", JAVASCRIPT),
    "typescript": ("geo/shapes.ts", TYPESCRIPT),
    "tsx": ("ui/Greeting.tsx", TSX),
    "go": ("server/server.go", GO),
    "rust": ("src/point.rs", RUST),
    "java": ("shop/Cart.java", JAVA),
    "c": ("lib/buffer.c", C),
    "cpp": ("net/connection.cpp", CPP),
    "csharp": ("Orders/Order.cs", CSHARP),
    "ruby": ("lib/shop.rb", RUBY),
    "php": ("app/Models/User.php", PHP),
    "bash": ("scripts/build.sh", BASH),
    "markdown": ("README.md", MARKDOWN),
    "toml": ("config.toml", TOML),
}


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in sample")


def chunk_sample(language: str, chunker: Chunker | None = None) -> list[Chunk]:
    path, text = SAMPLES[language]
    return (chunker or Chunker()).chunk(path, text)


def by_symbol(chunks: list[Chunk]) -> dict[str | None, Chunk]:
    """The first chunk of each symbol (module chunks collapse under None)."""
    found: dict[str | None, Chunk] = {}
    for chunk in chunks:
        found.setdefault(chunk.symbol, chunk)
    return found


def symbols_and_kinds(chunks: list[Chunk]) -> set[tuple[str | None, str]]:
    return {(c.symbol, c.kind) for c in chunks}


def uncovered_lines(text: str, chunks: list[Chunk]) -> Iterator[int]:
    """Non-blank lines that no chunk spanning them contains."""
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        spanning = [c for c in chunks if c.start_line <= number <= c.end_line]
        if not any(line.strip() in c.text for c in spanning):
            yield number


# -- Python -------------------------------------------------------------------------------


def test_python_functions_classes_and_methods_get_qualified_symbols_and_kinds() -> None:
    chunks = chunk_sample("python")
    assert {
        ("retry_count", "function"),
        ("HTTPConnection", "class"),
        ("HTTPConnection.__init__", "method"),
        ("HTTPConnection.request", "method"),
        ("HTTPConnection.Pool", "class"),
        ("HTTPConnection.Pool.acquire", "method"),
    } <= symbols_and_kinds(chunks)
    assert all(c.language == "python" and c.path == "http/client.py" for c in chunks)


def test_python_comment_and_decorator_above_a_function_start_its_chunk() -> None:
    chunks = by_symbol(chunk_sample("python"))
    retry = chunks["retry_count"]
    assert retry.start_line == line_of(PYTHON, "# Decides how often")
    assert retry.end_line == line_of(PYTHON, "return min(attempts")
    assert retry.text.startswith("# Decides how often to retry.\n@functools.cache\ndef retry")
    assert '"""How many times to retry."""' in retry.text
    request = chunks["HTTPConnection.request"]
    assert request.start_line == line_of(PYTHON, "# Sends one request.")
    assert "@traced" in request.text and "Send a request" in request.text


def test_class_chunk_holds_header_docstring_and_fields_but_no_method_bodies() -> None:
    cls = by_symbol(chunk_sample("python"))["HTTPConnection"]
    assert cls.start_line == line_of(PYTHON, "class HTTPConnection")
    assert "One connection to a server." in cls.text
    assert "default_port = 80" in cls.text
    assert "self.host = host" not in cls.text
    assert "_send" not in cls.text
    assert "size = 4" not in cls.text  # belongs to the nested class's chunk
    assert cls.end_line == line_of(PYTHON, "default_port = 80")


def test_lines_outside_definitions_become_module_chunks() -> None:
    chunks = chunk_sample("python")
    modules = [c for c in chunks if c.kind == "module"]
    assert [(c.start_line, c.end_line) for c in modules] == [
        (1, line_of(PYTHON, "DEFAULT_TIMEOUT")),
        (line_of(PYTHON, "__main__"), line_of(PYTHON, "print(retry_count")),
    ]
    assert all(c.symbol is None for c in modules)
    assert "import socket" in modules[0].text


def test_chunks_come_in_file_order() -> None:
    chunks = chunk_sample("python")
    assert chunks == sorted(chunks, key=lambda c: (c.start_line, c.end_line))


# -- names a chunk defines ------------------------------------------------------------------


def test_each_chunk_names_what_it_defines_and_not_the_names_it_uses() -> None:
    chunks = by_symbol(chunk_sample("python"))
    assert chunks["retry_count"].names == ("retry_count",)
    assert chunks["HTTPConnection.request"].names == ("request",)
    # Class attributes are the class's; a method's locals are nobody's definitions.
    assert "default_port" in chunks["HTTPConnection"].names
    assert all("host" not in c.names for c in chunk_sample("python"))
    module = next(c for c in chunk_sample("python") if c.kind == "module")
    assert module.names == ("DEFAULT_TIMEOUT",)


@pytest.mark.parametrize(
    ("language", "path", "source", "expected"),
    [
        ("python", "m.py", "A = 1\nB, C = 2, 3\nif x:\n    D: int = 4\n", ("A", "B", "C", "D")),
        ("go", "m.go", "package p\nconst (\n  A = iota\n  B\n)\nvar C int\n", ("A", "B", "C")),
        ("c", "m.c", "#define A 1\n#define F(x) x\nint B = 2;\n", ("A", "F", "B")),
        ("rust", "m.rs", "pub const A: u8 = 1;\nstatic mut B: u8 = 2;\n", ("A", "B")),
        ("javascript", "m.js", "export const A = 1;\nlet b = 2;\n", ("A", "b")),
        ("ruby", "m.rb", "A = 1\nB = 2\n", ("A", "B")),
        ("bash", "m.sh", "A=1\nexport B=2\n", ("A", "B")),
    ],
)
def test_module_chunks_name_the_constants_and_variables_they_declare(
    language: str, path: str, source: str, expected: tuple[str, ...]
) -> None:
    (module,) = Chunker().chunk(path, source)
    assert module.kind == "module"
    assert module.names == expected


def test_enum_members_are_names_of_their_enum() -> None:
    rust = Chunker().chunk("e.rs", "enum Colour {\n    Red,\n    Green,\n}\n")
    assert rust[0].names == ("Colour", "Red", "Green")
    java = "class K {\n  static final int LIMIT = 1;\n  enum E { X, Y }\n}\n"
    names = {n for c in Chunker().chunk("K.java", java) for n in c.names}
    assert {"K", "LIMIT", "X", "Y"} <= names


def test_only_the_window_holding_the_signature_names_a_long_definition() -> None:
    windows = [c for c in Chunker().chunk("long.py", LONG_FUNCTION) if c.symbol == "long_one"]
    assert [w.names for w in windows] == [("long_one",), (), (), ()]


def test_a_long_module_part_gives_each_window_the_names_declared_in_it() -> None:
    source = "".join(f"NAME_{i} = {i}\n" for i in range(100))
    windows = Chunker().chunk("constants.py", source)
    assert len(windows) > 1
    for w in windows:
        assert w.names == tuple(f"NAME_{i}" for i in range(w.start_line - 1, w.end_line))


# -- the other grammar languages ------------------------------------------------------------


def test_javascript_functions_arrow_constants_classes_and_jsdoc() -> None:
    chunks = chunk_sample("javascript")
    assert {
        ("fetchUser", "function"),
        ("formatName", "function"),
        ("UserStore", "class"),
        ("UserStore.add", "method"),
        ("UserStore.onChange", "method"),
    } <= symbols_and_kinds(chunks)
    symbols = by_symbol(chunks)
    assert symbols["fetchUser"].start_line == line_of(JAVASCRIPT, "/**")
    assert symbols["fetchUser"].text.startswith("/**\n * Fetches one user.")
    assert symbols["UserStore.add"].text.lstrip().startswith("/** Adds a user. */")
    store = symbols["UserStore"]
    assert "users = new Map();" in store.text and "this.users.set" not in store.text


EXPRESS_STYLE = """\
var res = module.exports = {};

/**
 * Set the HTTP status code.
 *
 * @public
 */

res.status = function status(code) {
  this.statusCode = code;
  return this;
};

/**
 * Set the Content-Type header.
 */

res.contentType =
res.type = function contentType(type) {
  return this.set('Content-Type', type);
};

// A note about the next line, set apart.

var unrelated = 1;
"""


def test_a_jsdoc_block_set_off_by_a_blank_line_still_documents_the_function() -> None:
    chunks = Chunker().chunk("lib/response.js", EXPRESS_STYLE)
    status = by_symbol(chunks)["res.status"]
    assert status.start_line == line_of(EXPRESS_STYLE, "/**")
    assert status.text.startswith("/**\n * Set the HTTP status code.")
    # No chunk of its own for the doc block.
    assert not any(c.text.strip().startswith("/**") and c.symbol is None for c in chunks)
    # An ordinary comment must touch the code to belong to it.
    assert all(
        "A note about" not in c.text for c in chunks if c.symbol and c.symbol.startswith("res.")
    )


def test_a_chained_assignment_defines_every_name_it_binds() -> None:
    chunks = Chunker().chunk("lib/response.js", EXPRESS_STYLE)
    typed = by_symbol(chunks)["res.type"]
    assert typed.kind == "function"
    assert {"type", "contentType"} <= set(typed.names)
    assert typed.start_line == line_of(EXPRESS_STYLE, "Set the Content-Type") - 1


def test_typescript_interfaces_enums_decorated_classes_and_methods() -> None:
    chunks = chunk_sample("typescript")
    assert {
        ("Shape", "class"),
        ("Color", "class"),
        ("Circle", "class"),
        ("Circle.constructor", "method"),
        ("Circle.area", "method"),
        ("parse", "function"),
    } <= symbols_and_kinds(chunks)
    symbols = by_symbol(chunks)
    assert symbols["Shape"].start_line == line_of(TYPESCRIPT, "/** A shape")
    assert symbols["Circle"].start_line == line_of(TYPESCRIPT, "@Injectable()")
    assert "Math.PI" not in symbols["Circle"].text
    assert symbols["Circle.area"].start_line == line_of(TYPESCRIPT, "/** The area")


def test_tsx_components_are_functions() -> None:
    chunks = chunk_sample("tsx")
    assert {("Greeting", "function"), ("Farewell", "function")} <= symbols_and_kinds(chunks)
    greeting = by_symbol(chunks)["Greeting"]
    assert greeting.start_line == line_of(TSX, "/** Greets someone. */")
    assert '<h1 className="greeting">' in greeting.text
    assert all(c.language == "tsx" for c in chunks)


def test_go_methods_are_named_after_their_receiver_type() -> None:
    chunks = chunk_sample("go")
    assert {
        ("Server", "class"),
        ("Server.Serve", "method"),
        ("Server.Name", "method"),
        ("New", "function"),
    } <= symbols_and_kinds(chunks)
    symbols = by_symbol(chunks)
    assert symbols["Server.Serve"].start_line == line_of(GO, "// Serve listens")
    assert symbols["Server"].text.startswith("// Server answers HTTP requests.\ntype Server")
    assert symbols["Server"].end_line == line_of(GO, "Handler http.Handler") + 1


def test_rust_impl_methods_are_named_after_the_type_with_doc_and_attributes() -> None:
    chunks = chunk_sample("rust")
    assert {
        ("Point", "class"),
        ("Point.distance", "method"),
        ("Point.fmt", "method"),
        ("Shape", "class"),
        ("Shape.describe", "method"),
        ("main", "function"),
    } <= symbols_and_kinds(chunks)
    struct = next(c for c in chunks if c.symbol == "Point" and "struct" in c.text)
    assert struct.start_line == line_of(RUST, "/// A point on the plane.")
    assert "#[derive(Debug, Clone)]" in struct.text
    impl = next(c for c in chunks if c.symbol == "Point" and c.text.startswith("impl Point"))
    assert "ORIGIN" in impl.text and "sqrt" not in impl.text
    distance = by_symbol(chunks)["Point.distance"]
    assert distance.start_line == line_of(RUST, "/// Distance to another point.")
    trait = by_symbol(chunks)["Shape"]
    assert "fn area(&self) -> f64;" in trait.text  # a signature without body stays
    assert "format!" not in trait.text


def test_java_annotations_and_javadoc_belong_to_their_class_and_methods() -> None:
    chunks = chunk_sample("java")
    assert {
        ("Cart", "class"),
        ("Cart.Cart", "method"),
        ("Cart.toString", "method"),
        ("Cart.Listener", "class"),
    } <= symbols_and_kinds(chunks)
    symbols = by_symbol(chunks)
    assert symbols["Cart"].start_line == line_of(JAVA, "/**")
    assert "@Entity" in symbols["Cart"].text and "private final List<Item>" in symbols["Cart"].text
    assert "new ArrayList" not in symbols["Cart"].text
    assert symbols["Cart.toString"].start_line == line_of(JAVA, "@Override")
    assert symbols["Cart.Cart"].start_line == line_of(JAVA, "/** Makes an empty cart. */")


def test_c_functions_and_typedef_structs() -> None:
    chunks = chunk_sample("c")
    assert {
        ("buffer_t", "class"),
        ("point", "class"),
        ("buffer_push", "function"),
        ("buffer_take", "function"),
    } <= symbols_and_kinds(chunks)
    push = by_symbol(chunks)["buffer_push"]
    assert push.start_line == line_of(C, "/* Appends one byte")
    assert push.end_line == line_of(C, "return 0;") + 1
    assert by_symbol(chunks)["buffer_t"].start_line == line_of(C, "/* A growable buffer. */")


def test_cpp_namespaces_do_not_qualify_and_out_of_line_methods_name_their_class() -> None:
    chunks = chunk_sample("cpp")
    assert {
        ("net", "module"),
        ("Connection", "class"),
        ("Connection.send", "method"),
        ("Connection.receive", "method"),
        ("Connection.close", "method"),
    } <= symbols_and_kinds(chunks)
    symbols = by_symbol(chunks)
    assert symbols["Connection.send"].start_line == line_of(CPP, "/// Sends bytes.")
    connection = symbols["Connection"]
    assert "explicit Connection(int fd);" in connection.text
    assert "int fd_;" in connection.text and "bytes.size()" not in connection.text
    namespace = symbols["net"]
    assert namespace.text.startswith("namespace net {") and "class Connection" not in namespace.text


def test_csharp_attributes_and_xml_doc_comments_are_included() -> None:
    chunks = chunk_sample("csharp")
    assert {
        ("Shop.Orders", "module"),
        ("Order", "class"),
        ("Order.Order", "method"),
        ("Order.Ship", "method"),
        ("IShippable", "class"),
    } <= symbols_and_kinds(chunks)
    symbols = by_symbol(chunks)
    ship = symbols["Order.Ship"]
    assert ship.start_line == line_of(CSHARP, "/// <summary>Ships the order.")
    assert '[Obsolete("use ShipAsync")]' in ship.text
    assert symbols["Order"].start_line == line_of(CSHARP, "/// <summary>An order.")
    assert "void Ship();" in symbols["IShippable"].text  # interface member without body


def test_ruby_modules_classes_and_singleton_methods() -> None:
    chunks = chunk_sample("ruby")
    assert {
        ("Shop", "class"),
        ("Shop.Cart", "class"),
        ("Shop.Cart.add", "method"),
        ("Shop.Cart.build", "method"),
        ("helper", "function"),
    } <= symbols_and_kinds(chunks)
    symbols = by_symbol(chunks)
    assert symbols["Shop.Cart"].start_line == line_of(RUBY, "# A cart holds items.")
    assert "attr_reader :items" in symbols["Shop.Cart"].text
    assert symbols["Shop.Cart.add"].start_line == line_of(RUBY, "# Adds an item.")


def test_php_classes_methods_and_functions() -> None:
    chunks = chunk_sample("php")
    assert {
        ("User", "class"),
        ("User.displayName", "method"),
        ("slugify", "function"),
    } <= symbols_and_kinds(chunks)
    symbols = by_symbol(chunks)
    user = symbols["User"]
    assert user.start_line == line_of(PHP, "/**")
    assert '#[Table("users")]' in user.text
    assert "abstract protected function roles(): array;" in user.text
    assert "ucfirst" not in user.text
    assert symbols["User.displayName"].start_line == line_of(PHP, "/** The display name. */")


def test_bash_functions_in_both_syntaxes_and_the_shebang_stays_in_the_module() -> None:
    chunks = chunk_sample("bash")
    assert {("greet", "function"), ("build", "function")} <= symbols_and_kinds(chunks)
    greet = by_symbol(chunks)["greet"]
    assert greet.start_line == line_of(BASH, "# Prints a greeting.")
    first = chunks[0]
    assert first.kind == "module" and first.text.startswith("#!/usr/bin/env bash")


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_every_non_blank_line_is_in_some_chunk(language: str) -> None:
    path, text = SAMPLES[language]
    chunks = Chunker().chunk(path, text)
    assert chunks
    assert list(uncovered_lines(text, chunks)) == []


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_small_windows_still_cover_every_line_and_respect_max_chars(language: str) -> None:
    path, text = SAMPLES[language]
    chunker = Chunker(max_lines=6, window_lines=4, window_overlap=1, max_chars=120)
    chunks = chunker.chunk(path, text)
    assert all(len(c.text) <= 120 for c in chunks)
    assert list(uncovered_lines(text, chunks)) == []


# -- long symbols, long lines -------------------------------------------------------------

LONG_FUNCTION = (
    "import os\n\n\ndef long_one(a, b):\n"
    + "".join(f"    step_{i} = compute({i})\n" for i in range(100))
    + "    return a\n"
)


def test_long_function_is_cut_into_overlapping_windows_that_repeat_its_signature() -> None:
    windows = [c for c in Chunker().chunk("long.py", LONG_FUNCTION) if c.symbol == "long_one"]
    assert len(windows) == 4
    assert all(w.kind == "function" for w in windows)
    assert [(w.start_line, w.end_line) for w in windows] == [
        (4, 43),
        (34, 73),
        (64, 103),
        (94, 105),
    ]
    assert windows[0].text.startswith("def long_one(a, b):\n    step_0 = compute(0)")
    for window in windows[1:]:
        first_body_line = LONG_FUNCTION.split("\n")[window.start_line - 1]
        assert window.text.startswith("def long_one(a, b):\n" + first_body_line + "\n")
    assert windows[-1].text.endswith("    return a")


def test_windows_respect_max_chars_by_taking_fewer_lines() -> None:
    text = "def wide():\n" + "".join(f"    v{i} = '{'x' * 180}'\n" for i in range(30))
    chunks = Chunker(max_chars=1000).chunk("wide.py", text)
    assert len(chunks) > 1
    assert all(len(c.text) <= 1000 for c in chunks)
    assert list(uncovered_lines(text, chunks)) == []


def test_a_huge_single_line_is_cut_into_character_slices() -> None:
    huge = "x = '" + "ab" * 9000 + "'"
    text = f"def f():\n    {huge}\n    return x\n"
    chunks = Chunker(max_chars=4000).chunk("huge.py", text)
    assert all(len(c.text) <= 4000 for c in chunks)
    slices = [c for c in chunks if c.start_line == c.end_line == 2]
    assert len(slices) >= 5
    body = slices[0].text + "".join(s.text.removeprefix("def f():\n") for s in slices[1:])
    assert huge in body  # nothing of the line is lost
    assert all(c.symbol == "f" for c in chunks)


def test_minified_code_is_not_repeated_once_per_function() -> None:
    minified = ";".join(f"function f{i}(a){{return a+{i}}}" for i in range(1500))
    chunks = Chunker().chunk("app.min.js", minified)
    assert sum(len(c.text) for c in chunks) == len(minified)
    assert all(len(c.text) <= 4000 for c in chunks)


# -- markdown and plain text --------------------------------------------------------------


def test_markdown_gets_one_section_per_heading_and_ignores_hashes_in_code() -> None:
    chunks = chunk_sample("markdown")
    assert [(c.symbol, c.kind, c.start_line, c.end_line) for c in chunks] == [
        (None, "section", 1, 1),
        ("Codanna", "section", 3, 5),
        ("Install", "section", 7, 12),
        ("Usage", "section", 14, 17),
    ]
    assert "# not a heading" in chunks[2].text


def test_long_markdown_section_is_windowed_with_its_heading() -> None:
    text = "# Notes\n\n" + "".join(f"Line {i} of the notes.\n" for i in range(80))
    chunks = Chunker().chunk("NOTES.md", text)
    assert len(chunks) == 3
    assert all(c.symbol == "Notes" and c.kind == "section" for c in chunks)
    assert all(c.text.startswith("# Notes\n") for c in chunks)


def test_toml_and_unknown_text_become_overlapping_line_windows() -> None:
    chunks = chunk_sample("toml")
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 40), (31, 70), (61, 90)]
    assert all(c.kind == "window" and c.symbol is None for c in chunks)
    notes = Chunker().chunk("NOTES", "first note\nsecond note\n")
    assert [(c.kind, c.language, c.start_line, c.end_line) for c in notes] == [
        ("window", "text", 1, 2)
    ]


def test_a_language_without_grammar_is_windowed_even_if_named_explicitly() -> None:
    chunks = Chunker().chunk("Main.kt", "fun main() {\n    println(1)\n}\n", language="kotlin")
    assert [(c.kind, c.language, c.start_line, c.end_line) for c in chunks] == [
        ("window", "kotlin", 1, 3)
    ]


# -- bad and odd input --------------------------------------------------------------------


def test_crlf_line_endings_give_the_same_chunks_as_lf() -> None:
    lf = Chunker().chunk("client.py", PYTHON)
    crlf = Chunker().chunk("client.py", PYTHON.replace("\n", "\r\n"))
    old_mac = Chunker().chunk("client.py", PYTHON.replace("\n", "\r"))
    assert crlf == lf
    assert old_mac == lf
    assert all("\r" not in c.text for c in crlf)


def test_a_file_with_a_syntax_error_still_chunks_every_line() -> None:
    text = "def ok():\n    return 1\n\ndef broken(:\n    x = = 2\n\nclass C:\n    pass\n"
    chunks = Chunker().chunk("broken.py", text)
    assert by_symbol(chunks)["ok"].end_line == 2
    assert list(uncovered_lines(text, chunks)) == []


def test_empty_and_blank_files_have_no_chunks() -> None:
    assert Chunker().chunk("empty.py", "") == []
    assert Chunker().chunk("blank.md", "\n  \n\t\n") == []
    assert Chunker().chunk("blank.txt", "\r\n\r\n") == []


def test_binaryish_text_with_control_characters_does_not_crash() -> None:
    text = "def f():\n    return '\x00\x01\x02'\n\udcff\udcfe garbage \x1b[0m\n" + "\x07" * 5000
    for path in ("odd.py", "odd.js", "odd.md", "odd.bin"):
        chunks = Chunker().chunk(path, text)
        assert chunks
        assert all(len(c.text) <= 4000 for c in chunks)


def test_window_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError):
        Chunker(window_lines=10, window_overlap=10)
    with pytest.raises(ValueError):
        Chunker(max_lines=20, window_lines=40)


@pytest.fixture
def broken_go_grammar(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Go grammar's wheel cannot be imported (as when it is missing or unusable)."""
    broken = replace(languages.TABLE.specs["go"], grammar=Grammar("tree_sitter_go_not_installed"))
    monkeypatch.setitem(languages.TABLE.specs, "go", broken)
    load_language.cache_clear()
    yield
    monkeypatch.undo()
    load_language.cache_clear()


@pytest.mark.usefixtures("broken_go_grammar")
def test_a_grammar_that_fails_to_load_falls_back_to_line_windows() -> None:
    assert load_language("go") is None
    chunks = chunk_sample("go")
    assert [(c.kind, c.symbol, c.start_line) for c in chunks] == [("window", None, 1)]
    assert list(uncovered_lines(GO, chunks)) == []


# -- threads ------------------------------------------------------------------------------


def test_chunking_from_a_thread_pool_gives_the_same_chunks_as_sequentially() -> None:
    files = [
        (f"copy{i}/{path}", text + f"\n# variant {i}\n" * (language in ("python", "ruby")))
        for i in range(12)
        for language, (path, text) in SAMPLES.items()
    ]
    chunker = Chunker(max_lines=20, window_lines=12, window_overlap=3)
    sequential = [chunker.chunk(path, text) for path, text in files]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda f: chunker.chunk(*f), files))
    assert parallel == sequential
    assert [[c.hash for c in cs] for cs in parallel] == [[c.hash for c in cs] for cs in sequential]


# -- language detection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("src/app.py", "python"),
        ("web/index.mjs", "javascript"),
        ("web/App.jsx", "javascript"),
        ("lib/types.d.ts", "typescript"),
        ("ui/View.tsx", "tsx"),
        ("cmd/main.go", "go"),
        ("src/lib.rs", "rust"),
        ("Main.java", "java"),
        ("buf.c", "c"),
        ("buf.h", "c"),
        ("net.hpp", "cpp"),
        ("Order.cs", "csharp"),
        ("shop.rb", "ruby"),
        ("index.php", "php"),
        ("run.sh", "bash"),
        ("README.MD", "markdown"),
        ("data.json", "json"),
        ("ci.yml", "yaml"),
        ("Cargo.toml", "toml"),
        ("page.html", "html"),
        ("site.css", "css"),
        ("schema.sql", "sql"),
        ("pom.xml", "xml"),
        ("setup.cfg", "ini"),
        ("App.kt", "kotlin"),
        ("View.swift", "swift"),
        ("Main.scala", "scala"),
        ("init.lua", "lua"),
        ("stats.R", "r"),
        ("notes.unknownext", "text"),
    ],
)
def test_language_is_detected_by_extension(path: str, language: str) -> None:
    assert detect_language(path) == language


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("Makefile", "makefile"),
        ("sub/GNUmakefile", "makefile"),
        ("Dockerfile", "dockerfile"),
        ("docker/Dockerfile.dev", "dockerfile"),
        ("Gemfile", "ruby"),
        ("Rakefile", "ruby"),
        ("home/.bashrc", "bash"),
        ("CMakeLists.txt", "cmake"),
        ("windows\\Makefile", "makefile"),
    ],
)
def test_language_is_detected_by_well_known_file_name(path: str, language: str) -> None:
    assert detect_language(path) == language


@pytest.mark.parametrize(
    ("first_line", "language"),
    [
        ("#!/usr/bin/env python3", "python"),
        ("#!/usr/bin/python3.11 -u", "python"),
        ("#!/bin/bash", "bash"),
        ("#!/bin/sh -e", "bash"),
        ("#!/usr/bin/env -S node --no-warnings", "javascript"),
        ("#!/usr/bin/env ruby", "ruby"),
        ("#!/usr/bin/env unknown-tool", "text"),
        ("# not a shebang", "text"),
    ],
)
def test_language_is_detected_by_shebang(first_line: str, language: str) -> None:
    assert detect_language("bin/tool", first_line) == language


def test_extension_wins_over_shebang() -> None:
    assert detect_language("tool.py", "#!/bin/bash") == "python"


def test_chunker_detects_language_from_the_shebang_of_an_extensionless_script() -> None:
    chunks = Chunker().chunk("bin/deploy", "#!/usr/bin/env python3\n\ndef main():\n    pass\n")
    assert ("main", "function") in symbols_and_kinds(chunks)
    assert all(c.language == "python" for c in chunks)


def test_every_grammar_language_loads_its_grammar() -> None:
    assert {"python", "typescript", "tsx", "csharp", "php", "bash"} <= GRAMMAR_LANGUAGES
    for name in sorted(GRAMMAR_LANGUAGES):
        assert load_language(name) is not None, name
    assert load_language("markdown") is None
    assert load_language("python") is load_language("python")  # cached
