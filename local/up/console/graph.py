"""A state machine's graph as inline SVG, drawn from its definition: states in rows by their distance from the
start, the states reached only through a Catch in a column of their own, a Map's item processor drawn inside it.
Each state is coloured by its outcome (a CSS class) and links to its runs on the page."""

from dataclasses import dataclass, field
from html import escape
from typing import Any

from local.up.console.execution import NOT_REACHED

BOX_WIDTH, BOX_HEIGHT = 200, 34
GAP_X, GAP_Y = 28, 42
PAD = 14  # inside a Map's frame
MAP_HEADER = 26


@dataclass
class Box:
    name: str
    x: float
    y: float
    width: float
    height: float
    inner: "Layout | None" = None


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict[str, Box] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # from, to, "next" or "catch"


def transitions(state: dict[str, Any]) -> list[str]:
    """Where a state goes next, apart from its Catch."""
    targets = [choice["Next"] for choice in state.get("Choices", [])]
    targets += [state[key] for key in ("Next", "Default") if key in state]
    return targets


def catches(state: dict[str, Any]) -> list[str]:
    return [catcher["Next"] for catcher in state.get("Catch", [])]


def rows_from(starts: list[str], states: dict[str, Any], placed: set[str]) -> list[list[str]]:
    """The states reached from `starts` over their transitions (not yet in `placed`), in rows: each state one row
    below the lowest state that leads to it, a loop's way back aside."""
    reached: list[str] = []
    loops: set[tuple[str, str]] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        visiting.add(name)
        reached.append(name)
        for target in transitions(states[name]):
            if target not in states or target in placed:
                continue
            if target in visiting:
                loops.add((name, target))
            elif target not in reached:
                visit(target)
        visiting.discard(name)

    for start in starts:
        if start in states and start not in placed and start not in reached:
            visit(start)
    depth = dict.fromkeys(reached, 0)
    for _ in reached:  # longest paths, once the loops' ways back are left out
        moved = False
        for name in reached:
            for target in transitions(states[name]):
                if target in depth and (name, target) not in loops and depth[target] < depth[name] + 1:
                    depth[target], moved = depth[name] + 1, True
        if not moved:
            break
    placed.update(reached)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in reached:
        rows[depth[name]].append(name)
    return rows


def layout(definition: dict[str, Any]) -> Layout:
    states = definition["States"]
    placed: set[str] = set()
    main = rows_from([definition["StartAt"]], states, placed)
    caught_only = [target for name in states for target in catches(states[name]) if target not in placed]
    side = rows_from(list(dict.fromkeys(caught_only)), states, placed)
    rest = rows_from([name for name in states if name not in placed], states, placed)  # unreachable: shown anyway
    inner = {name: layout(state["ItemProcessor"]) for name, state in states.items() if "ItemProcessor" in state}

    def size(name: str) -> tuple[float, float]:
        if name in inner:
            return max(BOX_WIDTH, inner[name].width + 2 * PAD), inner[name].height + 2 * PAD + MAP_HEADER
        return BOX_WIDTH, BOX_HEIGHT

    result = Layout(0, 0)
    main_rows = main + rest
    row_widths = [sum(size(n)[0] for n in row) + GAP_X * (len(row) - 1) for row in main_rows]
    main_width = max(row_widths, default=0)
    y = 0.0
    for row, row_width in zip(main_rows, row_widths, strict=True):
        x = (main_width - row_width) / 2
        height = max(size(n)[1] for n in row)
        for name in row:
            width, box_height = size(name)
            result.boxes[name] = Box(name, x, y, width, box_height, inner.get(name))
            x += width + GAP_X
        y += height + GAP_Y
    side_x = main_width + GAP_X * 2 if side else main_width
    side_y = (BOX_HEIGHT + GAP_Y) if len(main_rows) > 1 else 0.0
    for row in side:
        x = side_x
        for name in row:
            width, box_height = size(name)
            result.boxes[name] = Box(name, x, side_y, width, box_height, inner.get(name))
            x += width + GAP_X
        side_y += max(size(n)[1] for n in row) + GAP_Y
    result.width = max(box.x + box.width for box in result.boxes.values())
    result.height = max(box.y + box.height for box in result.boxes.values())
    for name, state in states.items():
        result.edges += [(name, target, "next") for target in transitions(state) if target in states]
        result.edges += [(name, target, "catch") for target in catches(state) if target in states]
    return result


def svg(definition: dict[str, Any], outcomes: dict[str, str], map_labels: dict[str, str] | None = None) -> str:
    """The graph as an <svg> element; outcomes by state name (states absent from it were not reached)."""
    drawn = layout(definition)
    margin = GAP_X + 12  # room for a loop's way back, left of the boxes
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{drawn.width + 2 * margin:.0f}" '
        f'height="{drawn.height + 2 * margin:.0f}" viewBox="{-margin} {-margin} {drawn.width + 2 * margin:.0f} '
        f'{drawn.height + 2 * margin:.0f}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    _draw(drawn, definition["States"], outcomes, map_labels or {}, parts, top_level=True)
    parts.append("</svg>")
    return "".join(parts)


def _draw(
    drawn: Layout,
    states: dict[str, Any],
    outcomes: dict[str, str],
    map_labels: dict[str, str],
    parts: list[str],
    top_level: bool,
) -> None:
    for source, target, kind in drawn.edges:
        parts.append(_edge(drawn.boxes[source], drawn.boxes[target], kind))
    for name, box in drawn.boxes.items():
        # The states inside a Map run in its child executions: the parent's history does not say how each went.
        outcome = outcomes.get(name, NOT_REACHED) if top_level else "inside-map"
        label = f"{name} ({states[name]['Type']})"
        parts.append(
            f'<g class="state {outcome}" data-state="{escape(name)}" data-outcome="{outcome}">'
            f'<a href="#state-{escape(name)}"><title>{escape(label)}: {outcome}</title>'
            f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.width:.0f}" height="{box.height:.0f}" rx="6"/>'
        )
        if box.inner is None:
            parts.append(_text(box.x + box.width / 2, box.y + box.height / 2 + 4, name))
            parts.append("</a></g>")
            continue
        parts.append(_text(box.x + box.width / 2, box.y + 17, f"{name}: {map_labels.get(name, 'Map')}"))
        parts.append(
            f'</a><g transform="translate({box.x + (box.width - box.inner.width) / 2:.0f} '
            f'{box.y + MAP_HEADER + PAD:.0f})">'
        )
        _draw(box.inner, states[name]["ItemProcessor"]["States"], outcomes, map_labels, parts, top_level=False)
        parts.append("</g></g>")


def _text(x: float, y: float, text: str) -> str:
    return f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="middle">{escape(text)}</text>'


def _edge(source: Box, target: Box, kind: str) -> str:
    if kind == "catch":
        x1, y1 = source.x + source.width, source.y + source.height / 2
        x2, y2 = target.x, target.y + target.height / 2
        if target.x < source.x:
            x1, x2 = source.x, target.x + target.width
        path = f"M {x1:.0f} {y1:.0f} L {x2:.0f} {y2:.0f}"
    elif target.y > source.y:
        x1, y1 = source.x + source.width / 2, source.y + source.height
        x2, y2 = target.x + target.width / 2, target.y
        middle = (y1 + y2) / 2
        path = f"M {x1:.0f} {y1:.0f} C {x1:.0f} {middle:.0f} {x2:.0f} {middle:.0f} {x2:.0f} {y2:.0f}"
    else:  # back up a loop: around the left side
        x1, y1 = source.x, source.y + source.height / 2
        x2, y2 = target.x, target.y + target.height / 2
        bend = min(x1, x2) - GAP_X
        path = f"M {x1:.0f} {y1:.0f} C {bend:.0f} {y1:.0f} {bend:.0f} {y2:.0f} {x2:.0f} {y2:.0f}"
    return f'<path class="edge {kind}" d="{path}" marker-end="url(#arrow)"/>'
