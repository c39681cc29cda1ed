"""References checked against the Java Card 3.0.4 Classic API (the signature list tools/jc_api_3.0.4.txt).

A class file may name a platform class, method or field the card does not have and still compile and run
in jCardSim, whose API is 3.0.5 plus its own classes: a jCardSim utility, a method 3.0.5 added
(`Util.arrayFill`, `ECKey.copyDomainParametersFrom`), a class 3.0.5 added (`OwnerPINx`). The 3.0.4
converter refuses each (it finds no token for it in the export files). Members are looked up the way the
JVM resolves them: in the named class, then its superclasses and interfaces, through the applet's own
classes into the API's.
"""

from __future__ import annotations

from pathlib import Path

LIST = Path(__file__).resolve().with_name("jc_api_3.0.4.txt")
# java.lang as Java Card 3.0.4 has it: these classes, their no-argument constructors and Object.equals.
JAVA_LANG = {
    "Object", "Throwable", "Exception", "RuntimeException", "ArithmeticException",
    "ArrayIndexOutOfBoundsException", "ArrayStoreException", "ClassCastException", "IndexOutOfBoundsException",
    "NegativeArraySizeException", "NullPointerException", "SecurityException",
}  # fmt: skip
_LANG_SUPER = {"Object": [], "Throwable": ["Object"], "Exception": ["Throwable"], "RuntimeException": ["Exception"],
               "IndexOutOfBoundsException": ["RuntimeException"],
               "ArrayIndexOutOfBoundsException": ["IndexOutOfBoundsException"]}  # fmt: skip


class Api:
    """The classes (with their supertypes) and members of the API, and the applet's own classes."""

    def __init__(self, own: dict[str, tuple[list[str], set[str]]]) -> None:
        """own: class name -> (supertypes, "name:descriptor" of its members) for every class checked."""
        self.supers: dict[str, list[str]] = {}
        self.members: set[str] = set()
        for raw in LIST.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if " : " in line or line.endswith(" :"):
                name, _, supers = line.partition(" :")
                self.supers[name] = supers.split()
            else:
                self.members.add(line)
        for name in JAVA_LANG:
            supers = _LANG_SUPER.get(name, ["RuntimeException"])
            self.supers[f"java/lang/{name}"] = [f"java/lang/{s}" for s in supers]
            self.members.add(f"java/lang/{name}.<init>:()V")
        self.members.add("java/lang/Object.equals:(Ljava/lang/Object;)Z")
        self.own = own

    def class_problem(self, name: str) -> str | None:
        if name.startswith("[") or name in self.own or name in self.supers:
            return None
        return f"{name.replace('/', '.')} is not in the Java Card 3.0.4 API"

    def member_problem(self, owner: str, name: str, desc: str) -> str | None:
        """Why owner.name:desc does not resolve to a member of the applet or the 3.0.4 API, if it does not."""
        if owner.startswith("["):
            return None  # array members: the subset check's own rule
        problem = self.class_problem(owner)
        if problem:
            return problem
        seen: set[str] = set()
        todo = [owner]
        while todo:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            if cls in self.own:
                supers, members = self.own[cls]
                if f"{name}:{desc}" in members:
                    return None
            else:
                if f"{cls}.{name}:{desc}" in self.members:
                    return None
                supers = self.supers.get(cls, [])
            # interfaces inherit Object's members too
            todo.extend(supers or ([] if cls == "java/lang/Object" else ["java/lang/Object"]))
        what = "method" if desc.startswith("(") else "field"
        return f"{what} {owner.replace('/', '.')}.{name}{desc if what == 'method' else ''} is not in the " \
               "Java Card 3.0.4 API"
