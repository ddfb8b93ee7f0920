"""Edge modules: model images run as MQTT modules beside a Mosquitto broker, with routes in
the IoT Edge syntax, store-and-forward, and Azure IoT Edge deployment manifests.

``serving.edge.runtime`` runs inside model images (standard library, paho-mqtt and the
scoring code only); the rest (broker image, lifecycle, manifests) runs on the host.
This file imports nothing, so the runtime part can be copied into images alone.
"""
