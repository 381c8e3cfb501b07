"""Hyperparameters that methods declare about themselves: name, type, default, range.

The registry hands these to TypeScript (the `merge_methods` op and the generated
src/ops/merge-methods.json), so `osrm merge --help` and validation read one declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float" | "int" | "choice"
    default: Any
    help: str
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    # Open bounds: density 0 keeps nothing and a drop rate of 1 divides by zero.
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple = field(default_factory=tuple)
    nullable: bool = False  # null means "derived" (e.g. TSV's 1/T)

    def describe(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "default": self.default, "help": self.help}
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        else:
            out["min"], out["max"] = self.minimum, self.maximum
            out["exclusive_min"], out["exclusive_max"] = self.exclusive_minimum, self.exclusive_maximum
        out["nullable"] = self.nullable
        return out

    def validate(self, method: str, value: Any) -> Any:
        where = f"method '{method}': hyperparameter '{self.name}'"
        if value is None:
            if self.nullable:
                return None
            raise ValueError(f"{where} may not be null")
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{where} is {value!r}; expected one of {list(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} is {value!r}; expected a number")
        if self.kind == "int":
            if int(value) != value:
                raise ValueError(f"{where} is {value!r}; expected an integer")
            value = int(value)
        else:
            value = float(value)
        low_bad = self.minimum is not None and (value <= self.minimum if self.exclusive_minimum else value < self.minimum)
        high_bad = self.maximum is not None and (value >= self.maximum if self.exclusive_maximum else value > self.maximum)
        if low_bad or high_bad:
            lo = "(" if self.exclusive_minimum else "["
            hi = ")" if self.exclusive_maximum else "]"
            raise ValueError(f"{where} is {value}, outside its range {lo}{self.minimum}, {self.maximum}{hi}")
        return value


def lam(default: float) -> Param:
    # lambda 0 would merge nothing: the range is open at 0.
    return Param("lambda", "float", default, "scale of the merged task vector: theta = theta_0 + lambda * merged",
                 0.0, 10.0, exclusive_minimum=True)


DENSITY = Param("density", "float", 0.2, "fraction of each task vector's largest-magnitude entries kept (TIES trim)",
                0.0, 1.0, exclusive_minimum=True)
TRIM_SCOPE = Param("trim_scope", "choice", "tensor", "TIES trimming per tensor or over all merged parameters",
                   choices=("tensor", "global"))
DROP_RATE = Param("drop_rate", "float", 0.3, "DARE: probability of dropping each entry (survivors scaled by 1/(1-p))",
                  0.0, 1.0, exclusive_maximum=True)
SEED = Param("seed", "int", 42, "seed of DARE's random drops", 0, 2**31 - 1)
