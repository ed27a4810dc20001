"""``SellerCenterClient``: one method per Seller Center call, with paging and batching.

Everything a caller passes is checked at construction or before the first request, with a
message that names the bad value and what to do. The API key is kept in a private attribute
and never shown (repr, errors, logs); the client refuses to be pickled so it cannot travel
into XCom or a task payload either.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit

import requests
from lxml import etree

from airflow_seller_provider.client.errors import (
    PagingLimitError,
    ResponseError,
    SellerCenterError,
)
from airflow_seller_provider.client.models import (
    CancelResult,
    Order,
    OrderItem,
    OrdersPage,
    Product,
    Reason,
    Response,
    WarehouseStock,
    children,
)
from airflow_seller_provider.client.protocol import (
    API_VERSION,
    BUSINESS_UNITS,
    FORMATS,
    GET_ORDERS_VERSIONS,
    MAX_ORDERS_PER_CALL,
    MAX_STOCK_PAGE,
    MAX_STOCK_UPDATES,
    ORDER_STATUSES,
    RESERVED_PARAMS,
    SHORTAGE,
    SORT_BY,
    SORT_DIRECTIONS,
    parse_iso,
)
from airflow_seller_provider.client.protocol import blank as _blank
from airflow_seller_provider.client.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    CallObserver,
    CallSettings,
    Transport,
    build_user_agent,
)
from airflow_seller_provider.client.validation import (
    validate_order_id,
    validate_order_item_id,
    validate_reason,
    validate_reason_detail,
)

__all__ = [
    "BUSINESS_UNITS",
    "FORMATS",
    "OrderFilters",
    "SellerCenterClient",
    "order_items_by_order",
]

log = logging.getLogger("airflow_seller_provider.client")

_ACTION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")


class OrderFilters(TypedDict, total=False):
    """GetOrders' filters: the keywords ``iter_orders`` and ``orders_page`` take besides
    their paging ones. Naive datetimes are UTC; one of the ``*_after`` is required (E018)."""

    status: str | None
    created_after: datetime | date | str | None
    updated_after: datetime | date | str | None
    created_before: datetime | date | str | None
    updated_before: datetime | date | str | None
    sort_by: str | None
    sort_direction: str | None


def order_items_by_order(body: Any) -> dict[int, list[OrderItem]]:
    """A GetMultipleOrderItems Body -> ``{order id: [OrderItem, ...]}`` in answer order.

    Each item carries its order's OperatorCode and ShippingType (items have none of their
    own), so the shortage rule can tell whose stock it uses and who ships it."""
    result: dict[int, list[OrderItem]] = {}
    from_node = OrderItem.from_node
    for order in children(body, "Orders", "Order"):
        if not isinstance(order, dict):
            continue
        text = order.get("OrderId")
        text = text.strip() if isinstance(text, str) else ""
        if not (text.isascii() and text.isdigit()):
            continue
        order_id = int(text)
        operator = order.get("OperatorCode")
        operator = operator.strip().lower() if isinstance(operator, str) else ""
        shipping = order.get("ShippingType")
        shipping = shipping.strip() if isinstance(shipping, str) else ""
        items = [
            from_node(node, order_id, operator, shipping)
            for node in children(order, "OrderItems", "OrderItem")
            if isinstance(node, dict)
        ]
        result.setdefault(order_id, []).extend(items)
    return result


class SellerCenterClient:
    """A Seller Center API client: signed, paced, retried calls; typed answers.

    Thread-safe: threads may share one client (one keep-alive session, one rate budget).
    ``max_retries`` is the most attempts a call makes, the first included. ``rate_limit`` is
    requests per second for all threads together (None: no client-side limit). ``observer``
    (optional) is called with a ``CallRecord`` after every attempt (action, outcome, latency,
    retried, throttled, final): metrics hang on it; one that raises is logged and ignored.
    """

    def __init__(
        self,
        base_url: str,
        user_id: str,
        api_key: str,
        *,
        response_format: str = "XML",
        business_unit: str | None = None,
        seller_id: str | None = None,
        integration: str = "PROPIA",
        timeout: float = 30.0,
        max_retries: int = 5,
        rate_limit: float | None = None,
        session: requests.Session | None = None,
        max_retry_time: float = 120.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        page_size: int = 1000,
        order_batch_size: int = MAX_ORDERS_PER_CALL,
        sku_batch_size: int = 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        observer: CallObserver | None = None,
    ) -> None:
        self.base_url = _base_url(base_url)
        self.user_id = _required_text(user_id, "user_id", "the API user's e-mail (UserID)")
        self.__api_key = _api_key(api_key)
        self.response_format = _choice(response_format, "response_format", FORMATS)
        self.business_unit = (
            None
            if _blank(business_unit)
            else _choice(business_unit, "business_unit", BUSINESS_UNITS)
        )
        self.seller_id = None if _blank(seller_id) else _ua_part(seller_id, "seller_id")
        self.integration = _ua_part(integration, "integration")
        self.timeout = _positive_number(timeout, "timeout", "seconds")
        self.max_retries = _positive_int(max_retries, "max_retries")
        self.rate_limit = (
            None if _blank(rate_limit) else _positive_number(rate_limit, "rate_limit", "requests/s")
        )
        self.max_retry_time = _positive_number(max_retry_time, "max_retry_time", "seconds")
        self.backoff_base = _positive_number(backoff_base, "backoff_base", "seconds")
        self.backoff_max = _positive_number(backoff_max, "backoff_max", "seconds")
        if self.backoff_max < self.backoff_base:
            raise ValueError(
                f"backoff_max {backoff_max!r} is below backoff_base {backoff_base!r}; "
                "the cap must be at least the first wait"
            )
        self.page_size = _positive_int(page_size, "page_size")
        self.order_batch_size = _positive_int(order_batch_size, "order_batch_size")
        self.sku_batch_size = _positive_int(sku_batch_size, "sku_batch_size")
        self.max_response_bytes = _positive_int(max_response_bytes, "max_response_bytes")
        if observer is not None and not callable(observer):
            raise TypeError(
                f"observer must be a callable taking a CallRecord, not {type(observer).__name__}"
            )
        if session is not None and not isinstance(session, requests.Session):
            raise TypeError(f"session must be a requests.Session, not {type(session).__name__}")
        user_agent, five_part = build_user_agent(
            self.seller_id, self.business_unit, self.integration
        )
        if not five_part:
            log.warning(
                "Seller Center client for %s has no %s: sending the generic User-Agent %r. "
                "Falabella requires the five-part form SELLER_ID/Python/VERSION/INTEGRATION/"
                "BUSINESS_UNIT; set seller_id and business_unit on the connection",
                self.user_id,
                " and ".join(
                    name
                    for name, value in (
                        ("seller_id", self.seller_id),
                        ("business_unit", self.business_unit),
                    )
                    if not value
                ),
                user_agent,
            )
        if self.base_url.startswith("http://") and not _is_loopback(self.base_url):
            log.warning(
                "Seller Center base URL %s is plain HTTP: signed requests travel unencrypted "
                "and the API answers E010 (insecure channel); use https://",
                self.base_url,
            )
        self.user_agent = user_agent
        self.transport = Transport(
            CallSettings.of(self),
            self.__api_key,
            session=session,
            observer=observer,
        )

    def __repr__(self) -> str:
        return (
            f"SellerCenterClient(base_url={self.base_url!r}, user_id={self.user_id!r}, "
            f"format={self.response_format!r}, business_unit={self.business_unit!r})"
        )

    def __getstate__(self) -> Any:
        raise TypeError(
            "a SellerCenterClient cannot be pickled (it holds the API key and a live session); "
            "build one where it is used, e.g. from the hook inside the task"
        )

    def __enter__(self) -> SellerCenterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP connections (a session passed in by the caller stays open)."""
        self.transport.close()

    # ------------------------------------------------------------------ generic

    def call(
        self,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        method: str = "GET",
        version: str = API_VERSION,
        body: bytes | None = None,
    ) -> Response:
        """Any call: ``params`` are sent as strings (None values are left out); ``body`` (a
        POST's XML, never signed). Returns the SuccessResponse; raises ``SellerCenterError``
        (its kind by error code)."""
        if not isinstance(action, str) or not _ACTION.fullmatch(action):
            raise ValueError(
                f"action {action!r} is not a Seller Center call name such as GetOrders"
            )
        verb = method.upper() if isinstance(method, str) else method
        if verb not in ("GET", "POST"):
            raise ValueError(f"method {method!r} must be GET or POST")
        if version not in GET_ORDERS_VERSIONS:
            raise ValueError(f"version {version!r} must be one of {', '.join(GET_ORDERS_VERSIONS)}")
        if body is not None and (verb != "POST" or not isinstance(body, bytes)):
            raise ValueError("body must be bytes, sent with method POST")
        return self.transport.request(action, _params(params), verb, version=version, body=body)

    # ------------------------------------------------------------------- orders

    def iter_orders(
        self,
        *,
        limit: int | None = None,
        max_pages: int = 10_000,
        version: str = API_VERSION,
        **filters: Unpack[OrderFilters],
    ) -> Iterator[Order]:
        """Every order matching the filters (``OrderFilters``: status, created_after,
        updated_after, created_before, updated_before, sort_by, sort_direction), page after
        page (``limit`` orders a page, default ``page_size``). Naive datetimes are taken as UTC.

        Ends when Offset reaches the Head's TotalCount (a short page before it means the
        server caps Limit, and paging goes on), else on a short page, or on an empty one; raises
        ``PagingLimitError`` if ``max_pages`` pages were read without reaching the end.
        ``version="2.0"`` asks for GetOrders' newer form (sorted by updated_at by default).
        Arguments are checked now, before any request; pages are fetched as you iterate.
        """
        params = _order_filters(filters)
        page_limit = self.page_size if limit is None else _positive_int(limit, "limit")
        max_pages = _positive_int(max_pages, "max_pages")
        version = _choice(version, "version", GET_ORDERS_VERSIONS, upper=False)
        return self._order_pages(params, page_limit, max_pages, version)

    def _order_pages(
        self, params: dict[str, str], limit: int, max_pages: int, version: str
    ) -> Iterator[Order]:
        offset = pages = 0
        while True:
            if pages >= max_pages:
                raise PagingLimitError(
                    f"read {pages} pages ({offset} orders) without reaching the end; narrow the "
                    "date range or raise max_pages",
                    action="GetOrders",
                )
            page = self._read_orders_page(params, offset, limit, version)
            pages += 1
            offset += len(page.orders)
            total = page.total_count
            of_total = "" if total is None else f" of {total}"
            log.info("GetOrders: page %d read, %d orders so far%s", pages, offset, of_total)
            yield from page.orders
            if not page.orders:
                return
            if total is not None:
                # TotalCount rules: a short page with more to come means the server caps
                # Limit below ours (its maximum is undocumented); going on loses nothing.
                if offset >= total:
                    return
            elif len(page.orders) < limit:
                return

    def orders_page(
        self,
        *,
        offset: int,
        limit: int | None = None,
        version: str = API_VERSION,
        **filters: Unpack[OrderFilters],
    ) -> OrdersPage:
        """One GetOrders page: its orders and the Head's TotalCount (None when absent).
        ``filters`` are ``iter_orders``' (status, created_after, ...), checked the same way.
        For callers that page themselves, e.g. several pages at once."""
        params = _order_filters(filters)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"offset {offset!r} must be a whole number >= 0")
        page_limit = self.page_size if limit is None else _positive_int(limit, "limit")
        version = _choice(version, "version", GET_ORDERS_VERSIONS, upper=False)
        return self._read_orders_page(params, offset, page_limit, version)

    def _read_orders_page(
        self, params: dict[str, str], offset: int, limit: int, version: str
    ) -> OrdersPage:
        """GetOrders at ``offset`` with checked arguments, its orders read."""
        response = self.call(
            "GetOrders", {**params, "Limit": limit, "Offset": offset}, version=version
        )
        nodes = [n for n in children(response.body, "Orders", "Order") if isinstance(n, dict)]
        try:
            orders = [Order.from_node(node) for node in nodes]
        except ValueError as exc:
            raise _unreadable("GetOrders", exc) from None
        return OrdersPage(orders, response.total_count, offset, limit)

    def get_order_items(self, order_id: int | str) -> list[OrderItem]:
        """The items of one order (GetOrderItems)."""
        order_id = validate_order_id(order_id)
        response = self.call("GetOrderItems", {"OrderId": order_id})
        try:
            return [
                OrderItem.from_node(node, order_id)
                for node in children(response.body, "OrderItems", "OrderItem")
                if isinstance(node, dict)
            ]
        except ValueError as exc:
            raise _unreadable("GetOrderItems", exc) from None

    def get_multiple_order_items(
        self, order_ids: Iterable[int | str]
    ) -> dict[int, list[OrderItem]]:
        """Items of many orders, ``{order id: items}``, in batches of ``order_batch_size``.

        A batch answered with E038 (too many orders) is halved, down to one order, and the
        smaller size is kept for the rest of the call. Orders the API does not return, or a
        batch it answers with E039 (none found), are simply absent.
        """
        ids = _dedup(validate_order_id(i) for i in _id_list(order_ids, "order_ids"))
        result: dict[int, list[OrderItem]] = {}
        wanted = set(ids)
        size = self.order_batch_size
        position = 0
        while position < len(ids):
            batch = ids[position : position + size]
            try:
                response = self.call(
                    "GetMultipleOrderItems", {"OrderIdList": "[" + ",".join(map(str, batch)) + "]"}
                )
            except SellerCenterError as exc:
                if exc.code == "E038" and len(batch) > 1:
                    size = max(1, len(batch) // 2)
                    log.info(
                        "GetMultipleOrderItems: %d orders is too many (E038); trying %d",
                        len(batch),
                        size,
                    )
                    continue
                if exc.code != "E039":
                    raise
                log.info("GetMultipleOrderItems: none of %d orders found (E039)", len(batch))
            else:
                try:
                    found = order_items_by_order(response.body)
                except ValueError as exc:
                    raise _unreadable("GetMultipleOrderItems", exc) from None
                for order_id, items in found.items():
                    if order_id in wanted:
                        result.setdefault(order_id, []).extend(items)
            position += len(batch)
        return result

    # ----------------------------------------------------------------- products

    def get_products(self, skus: Iterable[str]) -> list[Product]:
        """Products by seller SKU (GetProducts with SkuSellerList), ``sku_batch_size`` a call.
        SKUs the API does not know are absent."""
        wanted = _dedup(_sku(s) for s in _id_list(skus, "skus"))
        products: list[Product] = []
        for start in range(0, len(wanted), self.sku_batch_size):
            batch = wanted[start : start + self.sku_batch_size]
            response = self.call(
                "GetProducts",
                {
                    "SkuSellerList": json.dumps(batch, ensure_ascii=False, separators=(",", ":")),
                    "Limit": len(batch),
                    "Offset": 0,
                },
            )
            products.extend(
                Product.from_node(node)
                for node in children(response.body, "Products", "Product")
                if isinstance(node, dict)
            )
        return products

    def get_stock(self, skus: Iterable[str]) -> dict[tuple[str, str], int]:
        """Sellable stock per ``(business unit, seller SKU)``, e.g. ``{("FACL", "A"): 3}``,
        from GetProducts' ``BusinessUnits``: every unit each product has, not only the
        connection's (each order uses its own country's stock).

        Seller Center's figure already excludes the units reserved by pending orders, and
        may be negative when the declared quantity fell below them. A SKU the API does not
        know, or a unit a product lacks, is absent: unknown stock is not zero stock.
        """
        wanted = set(_dedup(_sku(s) for s in _id_list(skus, "skus")))
        stock: dict[tuple[str, str], int] = {}
        for product in self.get_products(sorted(wanted)):
            if product.seller_sku not in wanted:
                continue
            for unit, units in product.stock.items():
                stock[(unit, product.seller_sku)] = units
        return stock

    def iter_warehouse_stock(
        self, skus: Iterable[str] | None = None, *, limit: int = 1000, max_pages: int = 10_000
    ) -> Iterator[WarehouseStock]:
        """GetStock: sellable stock per SKU and warehouse (reserved units excluded), paged
        ``limit`` SKUs a page (the API's maximum is ``MAX_STOCK_PAGE``, 1000). Given SKUs
        travel in the URL, ``sku_batch_size`` a call, as GetProducts' do."""
        limit = _positive_int(limit, "limit")
        if limit > MAX_STOCK_PAGE:
            raise ValueError(
                f"limit {limit!r} must be at most {MAX_STOCK_PAGE} (GetStock's page maximum)"
            )
        max_pages = _positive_int(max_pages, "max_pages")
        if skus is None:
            yield from self._stock_pages({}, limit, max_pages)
            return
        wanted = _dedup(_sku(s) for s in _id_list(skus, "skus"))
        for start in range(0, len(wanted), self.sku_batch_size):
            batch = wanted[start : start + self.sku_batch_size]
            listed = json.dumps(batch, ensure_ascii=False, separators=(",", ":"))
            yield from self._stock_pages({"SkuSellerList": listed}, limit, max_pages)

    def _stock_pages(
        self, params: dict[str, Any], limit: int, max_pages: int
    ) -> Iterator[WarehouseStock]:
        offset = 0
        for _ in range(max_pages):
            response = self.call("GetStock", {**params, "Limit": limit, "Offset": offset})
            products = [
                n for n in children(response.body, "Products", "Product") if isinstance(n, dict)
            ]
            for node in products:
                yield from WarehouseStock.from_product_node(node)
            offset += len(products)
            total = response.total_count
            if not products or (total is not None and offset >= total):
                return
            if total is None and len(products) < limit:
                return
        raise PagingLimitError(
            f"read {max_pages} GetStock pages without reaching the end; raise max_pages",
            action="GetStock",
        )

    def update_stock(
        self,
        quantities: Mapping[str, int],
        *,
        SellerWarehouseId: str | None = None,  # noqa: N803 - the API's field names
        GSCFacilityId: str | None = None,  # noqa: N803
    ) -> Response:
        """UpdateStock: set the declared warehouse quantity of each SKU (at most 500 a
        call) in one warehouse: named by ``SellerWarehouseId`` or ``GSCFacilityId`` (not
        both), or, with neither, the seller's main warehouse (of the business unit the
        User-Agent names)."""
        if not isinstance(quantities, Mapping) or not quantities:
            raise ValueError("quantities must be a non-empty mapping {seller SKU: units}")
        if SellerWarehouseId is not None and GSCFacilityId is not None:
            raise ValueError(
                "name the warehouse by SellerWarehouseId or GSCFacilityId, not both "
                f"(got {SellerWarehouseId!r} and {GSCFacilityId!r})"
            )
        naming = [
            (field, _required_text(value, field, "a warehouse id"))
            for field, value in (
                ("GSCFacilityId", GSCFacilityId),
                ("SellerWarehouseId", SellerWarehouseId),
            )
            if value is not None
        ]
        if len(quantities) > MAX_STOCK_UPDATES:
            raise ValueError(
                f"{len(quantities)} SKUs: UpdateStock takes at most {MAX_STOCK_UPDATES} a call"
            )
        root = etree.Element("Request")
        warehouse = etree.SubElement(root, "Warehouse")
        for sku, units in quantities.items():
            if not isinstance(units, int) or isinstance(units, bool) or units < 0:
                raise ValueError(f"quantity {units!r} of SKU {sku!r} must be a whole number >= 0")
            entry = etree.SubElement(warehouse, "Stock")
            etree.SubElement(entry, "SellerSku").text = _sku(sku)
            etree.SubElement(entry, "Quantity").text = str(units)
            for field, value in naming:
                etree.SubElement(entry, field).text = value
        body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return self.call("UpdateStock", method="POST", body=body)

    # ----------------------------------------------------------------- canceling

    def get_failure_reasons(self) -> list[Reason]:
        """The reasons the platform accepts (GetFailureReasons)."""
        response = self.call("GetFailureReasons")
        return [
            Reason.from_node(node)
            for node in children(response.body, "Reasons", "Reason")
            if isinstance(node, dict)
        ]

    def cancel_order_item(
        self,
        order_item_id: int | str,
        reason: str = SHORTAGE,
        reason_detail: str | None = None,
    ) -> CancelResult:
        """Cancel one pending order item (SetStatusToCanceled, a POST).

        Raises ``InvalidStateError`` (E028) for an item that is not pending (already canceled
        included: check ``error.lost_answer`` and look the item up), ``NotFoundError`` (E020)
        for an unknown item, ``InvalidRequestError`` (E022) for a reason not accepted.
        """
        item_id = validate_order_item_id(order_item_id)
        params: dict[str, Any] = {"OrderItemId": item_id, "Reason": validate_reason(reason)}
        detail = validate_reason_detail(reason_detail)
        if detail is not None:
            params["ReasonDetail"] = detail
        response = self.call("SetStatusToCanceled", params, method="POST")
        nodes = [n for n in children(response.body, "OrderItems", "OrderItem") if n]
        node = next((n for n in nodes if isinstance(n, dict)), None)
        return CancelResult.from_node(node, item_id)


def _order_filters(filters: OrderFilters) -> dict[str, str]:
    """GetOrders' filter parameters, checked (ValueError naming the bad one; TypeError for
    a name that is not a filter, as for any unknown keyword)."""
    unknown = sorted(set(filters) - set(OrderFilters.__annotations__))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument {unknown[0]!r}: GetOrders' filters are "
            f"{', '.join(OrderFilters.__annotations__)}"
        )
    created_after = filters.get("created_after")
    updated_after = filters.get("updated_after")
    if created_after is None and updated_after is None:
        raise ValueError(
            "GetOrders needs created_after or updated_after (the API requires one: E018)"
        )
    params: dict[str, str] = {}
    for name, value in (
        ("CreatedAfter", created_after),
        ("CreatedBefore", filters.get("created_before")),
        ("UpdatedAfter", updated_after),
        ("UpdatedBefore", filters.get("updated_before")),
    ):
        if value is not None:
            params[name] = _api_datetime(value, name)
    for low, high in (("CreatedAfter", "CreatedBefore"), ("UpdatedAfter", "UpdatedBefore")):
        if low in params and high in params and parse_iso(params[low]) >= parse_iso(params[high]):
            raise ValueError(
                f"{low} {params[low]} is not before {high} {params[high]}: the range is empty"
            )
    status = filters.get("status")
    if status is not None:
        params["Status"] = _choice(status, "status", ORDER_STATUSES, upper=False)
    sort_by = filters.get("sort_by")
    if sort_by is not None:
        params["SortBy"] = _choice(sort_by, "sort_by", SORT_BY, upper=False)
    sort_direction = filters.get("sort_direction")
    if sort_direction is not None:
        params["SortDirection"] = _choice(sort_direction, "sort_direction", SORT_DIRECTIONS)
    return params


def _unreadable(action: str, exc: ValueError) -> ResponseError:
    """A value of an answer the models cannot read (a date that is no date) is a broken
    answer, reported as one: a ResponseError naming the call, not a bare ValueError."""
    return ResponseError(
        f"the answer holds a value that cannot be read ({exc}); "
        "this is not an answer Seller Center sends",
        action=action,
    )


# ----------------------------------------------------------------- input checks


def _base_url(value: Any) -> str:
    hint = "e.g. https://sellercenter-api.falabella.com/"
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"base_url {value!r} must be an http(s) URL, {hint}")
    text = value.strip()
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        raise ValueError("base_url must not hold a user or password; use user_id and api_key")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url {text!r} must be an http(s)://host URL, {hint}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url {text!r} must have no query string or fragment, {hint}")
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValueError(f"base_url {text!r} has an invalid port, {hint}") from None
    return f"{parts.scheme.lower()}://{parts.netloc}{parts.path or '/'}"


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _required_text(value: Any, name: str, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string: {what}, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} is empty: give {what}")
    return value.strip()


def _api_key(value: Any) -> str:
    # Never quote the value: a wrong key in an error is still a key.
    if not isinstance(value, str):
        raise TypeError(f"api_key must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError("api_key is empty: give the API key from Seller Center (My Account)")
    return value.strip()


def _choice(value: Any, name: str, allowed: tuple[str, ...], *, upper: bool = True) -> str:
    if isinstance(value, str):
        text = value.strip().upper() if upper else value.strip().lower()
        if text in allowed:
            return text
    raise ValueError(f"{name} {value!r} must be one of {', '.join(allowed)}")


def _ua_part(value: Any, name: str) -> str:
    text = _required_text(value, name, "a User-Agent part")
    if "/" in text or any(not ch.isprintable() for ch in text):
        raise ValueError(f"{name} {text!r} must not contain '/' or control characters")
    return text


def _positive_number(value: Any, name: str, unit: str) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} {value!r} must be a positive number of {unit}")
    return number


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise TypeError(f"{name} {value!r} must be a whole number of at least 1")
    if number < 1:
        raise ValueError(f"{name} {value!r} must be at least 1")
    return number


def _params(params: Mapping[str, Any] | None) -> dict[str, str]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of names to values, not {type(params).__name__}")
    out: dict[str, str] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"parameter name {name!r} must be a non-empty string")
        if name in RESERVED_PARAMS:
            raise ValueError(f"parameter {name} is set by the client on every call; leave it out")
        if value is None:
            continue
        if isinstance(value, bool):
            raise TypeError(f"parameter {name}={value!r}: pass a string, not a bool")
        if isinstance(value, datetime | date):
            text = _api_datetime(value, name)
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            raise TypeError(
                f"parameter {name}={value!r}: pass a string or number, not {type(value).__name__}"
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"parameter {name} is not valid Unicode text") from None
        out[name] = text
    return out


def _api_datetime(value: Any, name: str) -> str:
    """ISO 8601 with an explicit offset, in UTC; naive datetimes are UTC."""
    if isinstance(value, str):
        try:
            value = parse_iso(value.strip())
        except ValueError:
            raise ValueError(
                f"{name} {value!r} is not an ISO 8601 date, e.g. 2024-05-01T00:00:00+00:00"
            ) from None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        raise TypeError(f"{name} {value!r} must be a datetime, a date or an ISO 8601 string")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"


def _id_list(values: Any, name: str) -> list[Any]:
    if isinstance(values, str | bytes | int) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of values, not {type(values).__name__} {values!r}")
    return list(values)


def _dedup(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _sku(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"SKU {value!r} must be a string (the seller SKU)")
    if not value.strip():
        raise ValueError("a SKU is empty; pass seller SKUs such as 'ABC-123'")
    return value
