"""A state machine's graph as inline SVG, drawn from its definition: states in rows by their distance from the
start, the states reached only through a Catch in a column of their own, a Map's item processor drawn inside it.

An edge to the next row runs straight down between the rows. Every other edge (one that skips rows, a loop's way
back, a Catch) leaves its state by the side, runs in a lane of its own beside the boxes (left of them for the
transitions, right for the Catches: one lane per target) and enters its target by the side, crossing the rows only
in the gaps between them: no edge runs under a box. Each state is coloured by its outcome (a CSS class) and links to
its details on the page; the edges the execution took are marked."""

from dataclasses import dataclass, field
from html import escape
from typing import Any

from local.up.console.execution import NOT_REACHED

BOX_WIDTH, BOX_HEIGHT = 200, 34
GAP_X, GAP_Y = 28, 48
PAD = 14  # inside a Map's frame
MAP_HEADER = 26
LANE = 12  # between two lanes, and between the boxes and the nearest lane
STUB = 10  # how far an edge runs out of a box's side before it turns
MAIN, SIDE = 0, 1  # the main column, and the column of the states reached only through a Catch

Point = tuple[float, float]
Edge = tuple[str, str, str]  # from, to, and "next" or "catch"


@dataclass
class Box:
    name: str
    column: int
    row: int
    width: float
    height: float
    inner: "Layout | None" = None
    x: float = 0
    y: float = 0
    row_bottom: float = 0  # the bottom of the tallest box of its row

    @property
    def middle(self) -> float:
        return self.y + self.height / 2


@dataclass
class Layout:
    width: float = 0
    height: float = 0
    boxes: dict[str, Box] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    # The line each edge is drawn along, from its source to its target.
    routes: dict[Edge, list[Point]] = field(default_factory=dict)


def transitions(state: dict[str, Any]) -> list[str]:
    """Where a state goes next, apart from its Catch."""
    targets = [choice.get("Next") for choice in state.get("Choices", [])]
    targets += [state[key] for key in ("Next", "Default") if key in state]
    return [target for target in targets if isinstance(target, str)]


def catches(state: dict[str, Any]) -> list[str]:
    return [catcher["Next"] for catcher in state.get("Catch", []) if isinstance(catcher.get("Next"), str)]


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
    main = rows_from([definition.get("StartAt", "")], states, placed)
    caught_only = [target for name in states for target in catches(states[name]) if target not in placed]
    side = rows_from(list(dict.fromkeys(caught_only)), states, placed)
    main += rows_from([name for name in states if name not in placed], states, placed)  # unreachable: shown anyway
    result = Layout()
    for column, rows in ((MAIN, main), (SIDE, side)):
        for number, row in enumerate(rows):
            for name in row:
                inner = layout(states[name]["ItemProcessor"]) if "ItemProcessor" in states[name] else None
                width, height = (
                    (max(BOX_WIDTH, inner.width + 2 * PAD), inner.height + 2 * PAD + MAP_HEADER)
                    if inner
                    else (BOX_WIDTH, BOX_HEIGHT)
                )
                result.boxes[name] = Box(name, column, number, width, height, inner)
    boxes = result.boxes
    for name, state in states.items():
        result.edges += [(name, target, "next") for target in transitions(state) if target in states]
        result.edges += [(name, target, "catch") for target in catches(state) if target in states]
    result.edges = list(dict.fromkeys(result.edges))  # two choices of one Choice may go to the same state
    routed = [edge for edge in result.edges if not _straight_down(boxes, edge)]
    # One lane per target on each side: the edges into one state run together.
    left = list(dict.fromkeys(edge[1] for edge in routed if _lane_side(boxes, edge) < 0))
    right = list(dict.fromkeys(edge[1] for edge in routed if _lane_side(boxes, edge) > 0))

    # The main column's rows, centred, right of the left lanes; the side column right of the right lanes.
    main_left = LANE * (len(left) + 1) if left else 0
    main_width = max((_row_width([boxes[n] for n in row]) for row in main), default=0)
    _place(main, boxes, main_left, main_width, 0)
    main_right = main_left + main_width
    side_left = main_right + 2 * GAP_X + LANE * len(right)
    side_top = (BOX_HEIGHT + GAP_Y) if len(main) > 1 else 0.0
    _place(side, boxes, side_left, 0, side_top)

    lanes: dict[tuple[int, str], float] = {(-1, target): main_left - LANE * (i + 1) for i, target in enumerate(left)}
    lanes |= {(1, target): main_right + LANE * (i + 1) for i, target in enumerate(right)}
    for edge in result.edges:
        source, target = boxes[edge[0]], boxes[edge[1]]
        if _straight_down(boxes, edge):
            result.routes[edge] = _down(source, target)
        else:
            lane_side = _lane_side(boxes, edge)
            lane_index = (left if lane_side < 0 else right).index(target.name)
            result.routes[edge] = _around(source, target, lanes[(lane_side, target.name)], lane_index, boxes)
    # An edge into the first row may run above it: everything moves down to start at y 0.
    top = min((y for route in result.routes.values() for _, y in route), default=0.0)
    if top < 0:
        for box in boxes.values():
            box.y, box.row_bottom = box.y - top, box.row_bottom - top
        for edge, route in result.routes.items():
            result.routes[edge] = [(x, y - top) for x, y in route]
    points = [point for route in result.routes.values() for point in route]
    points += [(box.x + box.width, box.y + box.height) for box in boxes.values()]
    result.width, result.height = max((x for x, _ in points), default=0), max((y for _, y in points), default=0)
    return result


def _row_width(row: list[Box]) -> float:
    return sum(box.width for box in row) + GAP_X * (len(row) - 1)


def _place(rows: list[list[str]], boxes: dict[str, Box], left: float, width: float, top: float) -> None:
    """Places the rows from `top` down, each centred in `width` from `left` (0: each from `left`)."""
    y = top
    for row in rows:
        members = [boxes[name] for name in row]
        x = left + (width - _row_width(members)) / 2 if width else left
        height = max(box.height for box in members)
        for box in members:
            box.x, box.y, box.row_bottom = x, y, y + height
            x += box.width + GAP_X
        y += height + GAP_Y


def _straight_down(boxes: dict[str, Box], edge: Edge) -> bool:
    source, target, kind = boxes[edge[0]], boxes[edge[1]], edge[2]
    return kind == "next" and source.column == target.column and target.row == source.row + 1


def _lane_side(boxes: dict[str, Box], edge: Edge) -> int:
    """-1: the edge runs left of the boxes; 1: right of the main column (a Catch, or to or from the side column)."""
    source, target, kind = edge
    if kind == "catch" or SIDE in (boxes[source].column, boxes[target].column):
        return 1
    return -1


def _down(source: Box, target: Box) -> list[Point]:
    """From the bottom of `source` to the top of `target` in the next row, turning in the gap between the rows."""
    x1, x2 = source.x + source.width / 2, target.x + target.width / 2
    y1, y2 = source.y + source.height, target.y
    middle = (source.row_bottom + target.y) / 2
    if x1 == x2:
        return [(x1, y1), (x2, y2)]
    return [(x1, y1), (x1, middle), (x2, middle), (x2, y2)]


def _around(source: Box, target: Box, lane: float, lane_index: int, boxes: dict[str, Box]) -> list[Point]:
    """Out of the side of `source` facing the lane, along the lane, into the side of `target` facing it. A box with
    another box between it and the lane reaches the lane through the gap below its row (leaving) or above its row
    (arriving)."""
    offset = 6 + 5 * lane_index  # the lanes' runs across a gap, apart from one another

    def facing(box: Box) -> float:
        return box.x if lane < box.x else box.x + box.width

    def clear(box: Box) -> bool:
        """Nothing of its row between it and the lane."""
        return not any(
            other is not box
            and other.column == box.column
            and other.row == box.row
            and min(lane, facing(box)) < other.x + other.width / 2 < max(lane, facing(box))
            for other in boxes.values()
        )

    step = STUB if lane > facing(source) else -STUB
    start = (facing(source), source.middle - 5)
    if clear(source):
        out = [start, (lane, start[1])]
    else:
        below = source.row_bottom + offset
        out = [start, (start[0] + step, start[1]), (start[0] + step, below), (lane, below)]
    step = STUB if lane > facing(target) else -STUB
    end = (facing(target), target.middle + 5)
    if clear(target):
        into = [(lane, end[1]), end]
    else:
        above = target.y - offset
        into = [(lane, above), (end[0] + step, above), (end[0] + step, end[1]), end]
    return out + into


def svg(
    definition: dict[str, Any],
    outcomes: dict[str, str],
    map_labels: dict[str, str] | None = None,
    taken: set[tuple[str, str, str]] | None = None,
) -> str:
    """The graph as an <svg> element; outcomes by state name (states absent from it were not reached), taken: the
    edges the execution went along, (from, to, "next" or "catch")."""
    drawn = layout(definition)
    margin = 8
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{drawn.width + 2 * margin:.0f}" '
        f'height="{drawn.height + 2 * margin:.0f}" viewBox="{-margin} {-margin} {drawn.width + 2 * margin:.0f} '
        f'{drawn.height + 2 * margin:.0f}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    _draw(drawn, definition["States"], outcomes, map_labels or {}, taken or set(), parts, None)
    parts.append("</svg>")
    return "".join(parts)


def _draw(
    drawn: Layout,
    states: dict[str, Any],
    outcomes: dict[str, str],
    map_labels: dict[str, str],
    taken: set[tuple[str, str, str]],
    parts: list[str],
    inside: str | None,
) -> None:
    """inside: the Map whose item processor this is (its states run in the Map's child executions, whose histories
    are their own: drawn uncoloured, each linking to the Map's details)."""
    for (source, target, kind), route in drawn.routes.items():
        path = " ".join(f"{'M' if i == 0 else 'L'} {x:.0f} {y:.0f}" for i, (x, y) in enumerate(route))
        marked = " taken" if inside is None and (source, target, kind) in taken else ""
        parts.append(
            f'<path class="edge {kind}{marked}" data-from="{escape(source)}" data-to="{escape(target)}" '
            f'd="{path}" marker-end="url(#arrow)"/>'
        )
    for name, box in drawn.boxes.items():
        outcome = outcomes.get(name, NOT_REACHED) if inside is None else "inside-map"
        label = f"{name} ({states[name].get('Type', '?')})"
        parts.append(
            f'<g class="state {outcome}" data-state="{escape(name)}" data-outcome="{outcome}">'
            f'<a href="#state-{escape(inside or name)}"><title>{escape(label)}: {outcome}</title>'
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
        _draw(box.inner, states[name]["ItemProcessor"]["States"], outcomes, map_labels, taken, parts, inside or name)
        parts.append("</g></g>")


def _text(x: float, y: float, text: str) -> str:
    return f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="middle">{escape(text)}</text>'
