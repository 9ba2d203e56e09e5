# One image for the web app and the workers (the gpu worker runs it with the NVIDIA runtime).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN apt-get update && apt-get install -y --no-install-recommends libpq5 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN SECRET_KEY=build DATABASE_URL=postgres://build@localhost/build python manage.py collectstatic --noinput

RUN useradd --create-home inkloop && mkdir -p /data && chown inkloop /data
USER inkloop
EXPOSE 8000
# An import streams a whole collection through one request (about 2 pages/s on 2 cores), so a
# worker may work for minutes on it; collections of thousands of pages go through manage.py import_layout.
CMD ["gunicorn", "webapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "900"]
