from imageprism import ImagePrism


def test_default_prism_scores_a_reencoded_photo_as_the_same(demo_photos):
    result = ImagePrism().compare(demo_photos["coffee"], demo_photos["coffee_q40"])
    assert result.scores["hash"] > 0.95
    assert (
        ImagePrism().compare(demo_photos["coffee"], demo_photos["astronaut"]).scores["hash"] < 0.7
    )
